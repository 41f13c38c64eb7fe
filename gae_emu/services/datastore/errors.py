"""The datastore's domain errors, defined once and shared by the service and `gae_emu.ext.db`.

Names and messages follow App Engine's `google.appengine.api.datastore_errors`; `code` is the
`datastore_v3` `Error.ErrorCode` a wire front end reports for the error (0 for client-side errors
that never cross the wire).

Imports: the standard library only.
"""
from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """`datastore_v3` `Error.ErrorCode`."""

    BAD_REQUEST = 1
    CONCURRENT_TRANSACTION = 2
    INTERNAL_ERROR = 3
    NEED_INDEX = 4
    TIMEOUT = 5
    PERMISSION_DENIED = 6
    BIGTABLE_ERROR = 7
    COMMITTED_BUT_STILL_APPLYING = 8
    CAPABILITY_DISABLED = 9
    TRY_ALTERNATE_BACKEND = 10
    SAFE_TIME_TOO_OLD = 11
    RESOURCE_EXHAUSTED = 12


class Error(Exception):
    """Base datastore error type."""

    code: int = 0


class BadValueError(Error):
    """A property value is not valid for its property."""


class BadPropertyError(Error):
    """A property name is not valid."""


class BadRequestError(Error):
    """The request to the datastore service was not valid."""

    code = ErrorCode.BAD_REQUEST


class EntityNotFoundError(Error):
    """The entity does not exist."""


class BadArgumentError(Error):
    """A bad argument was given to a datastore API."""


class QueryNotFoundError(Error):
    """The query (cursor) is not known or has expired."""


class TransactionNotFoundError(Error):
    """The transaction is not known (already committed or rolled back)."""


class Rollback(Error):
    """Raised inside a transaction function: roll the transaction back quietly."""


class TransactionFailedError(Error):
    """The transaction could not be committed, usually because of contention."""

    code = ErrorCode.CONCURRENT_TRANSACTION


class BadFilterError(Error):
    """A query filter is not valid."""

    def __init__(self, filter: object) -> None:
        self.filter = filter
        super().__init__('invalid filter: %s.' % (filter,))


class BadQueryError(Error):
    """A query is not valid."""


class BadKeyError(Error):
    """A key is not valid (bad encoding, incomplete where a complete one is needed, ...)."""


class InternalError(Error):
    """The datastore failed internally."""

    code = ErrorCode.INTERNAL_ERROR


class NeedIndexError(Error):
    """The query needs a composite index (never raised by this emulator: it needs none)."""

    code = ErrorCode.NEED_INDEX


class Timeout(Error):
    """The datastore operation timed out."""

    code = ErrorCode.TIMEOUT


class CommittedButStillApplying(Timeout):
    """The write committed but is not yet visible everywhere."""

    code = ErrorCode.COMMITTED_BUT_STILL_APPLYING
