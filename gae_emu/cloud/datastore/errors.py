"""Errors of the Datastore v1 front door, as the real service reports them: a canonical status code
(gRPC's names; REST uses the matching HTTP status) and a message naming the field, key or property.

The service's domain errors are mapped here, once: a bad request is INVALID_ARGUMENT, a lost
optimistic race is ABORTED (the clients retry it), a timeout DEADLINE_EXCEEDED.

Imports: the standard library, `gae_emu.services.datastore`.
"""
from __future__ import annotations

from gae_emu.services.datastore import Error as DatastoreError
from gae_emu.services.datastore import InternalError, Timeout, TransactionFailedError

# canonical code name -> (gRPC status number, HTTP status, REST status string)
CODES = {
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
}


class CloudError(Exception):
    """A request the Datastore API refuses: `code` is a key of CODES."""

    def __init__(self, code: str, message: str) -> None:
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def grpc_code(self) -> int:
        return CODES[self.code][0]

    @property
    def http_status(self) -> int:
        return CODES[self.code][1]


def invalid(message: str) -> CloudError:
    return CloudError("INVALID_ARGUMENT", message)


def from_service(exc: DatastoreError) -> CloudError:
    """The v1 status of a service error."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, TransactionFailedError):
        return CloudError("ABORTED", "Aborted due to cross-transaction contention. " + message)
    if isinstance(exc, Timeout):
        return CloudError("DEADLINE_EXCEEDED", message)
    if isinstance(exc, InternalError):
        return CloudError("INTERNAL", message)
    return invalid(message)
