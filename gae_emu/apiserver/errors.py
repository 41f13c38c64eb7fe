"""The two ways an API call fails on the wire, raised by service handlers and encoded once by
`transport` into the `remote_api` `Response` (never as an HTTP error).

`ApplicationError(code, detail)` is the service's own error (`application_error`): the client turns
it into the service's exception (taskqueue `TaskAlreadyExistsError`, datastore `TransactionFailedError`,
...). `RpcError(code, detail)` is a failure of the call itself (`rpc_error`, codes of
`RpcError.ErrorCode`): unknown call, unparsable request, bad ticket.

Imports: the standard library only.
"""
from __future__ import annotations

import enum


class RpcCode(enum.IntEnum):
    """`remote_api` `RpcError.ErrorCode`."""

    UNKNOWN = 0
    CALL_NOT_FOUND = 1
    PARSE_ERROR = 2
    SECURITY_VIOLATION = 3
    OVER_QUOTA = 4
    REQUEST_TOO_LARGE = 5
    CAPABILITY_DISABLED = 6
    FEATURE_DISABLED = 7
    BAD_REQUEST = 8
    RESPONSE_TOO_LARGE = 9
    CANCELLED = 10
    REPLAY_ERROR = 11
    DEADLINE_EXCEEDED = 12


class CallError(Exception):
    """Base of the wire errors: a code and a detail message (always set: the client prints it)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = int(code)
        self.detail = detail or "(no detail)"


class ApplicationError(CallError):
    """The service refused the call (`Response.application_error`)."""


class RpcError(CallError):
    """The call could not be made (`Response.rpc_error`)."""


def call_not_found(service: str, method: str) -> RpcError:
    return RpcError(RpcCode.CALL_NOT_FOUND,
                    f"The API call {service}.{method}() is not implemented by gae-emu's API server.")
