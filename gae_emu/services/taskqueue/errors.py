"""The task queue service's domain errors, each carrying App Engine's `TaskQueueServiceError` code.

Codes are the values of `TaskQueueServiceError.ErrorCode` (taskqueue_service.proto), so the wire
front door (`apiserver`) can answer with `application_error = err.code` and Google's client library
translates it exactly as production would. `first_error` is the one place that decides which error
of a bulk add the caller sees (B5: the first wins, but AlreadyExists/Tombstoned give way to a later,
different error).

Imports: the standard library only.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

# TaskQueueServiceError.ErrorCode values that have no error class of their own here.
OK = 0
SKIPPED = 17
DATASTORE_ERROR = 10000


class TaskQueueError(Exception):
    """Base of every task queue service error; `code` is the service error code."""

    code: int = 3  # INTERNAL_ERROR

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class UnknownQueueError(TaskQueueError):
    code = 1


class TransientError(TaskQueueError):
    code = 2


class InternalError(TaskQueueError):
    code = 3


class TaskTooLargeError(TaskQueueError):
    code = 4


class InvalidTaskNameError(TaskQueueError):
    code = 5


class InvalidQueueNameError(TaskQueueError):
    code = 6


class InvalidUrlError(TaskQueueError):
    code = 7


class InvalidQueueRateError(TaskQueueError):
    code = 8


class PermissionDeniedError(TaskQueueError):
    code = 9


class TaskAlreadyExistsError(TaskQueueError):
    code = 10


class TombstonedTaskError(TaskQueueError):
    code = 11


class InvalidEtaError(TaskQueueError):
    code = 12


class InvalidRequestError(TaskQueueError):
    code = 13


class UnknownTaskError(TaskQueueError):
    code = 14


class DuplicateTaskNameError(TaskQueueError):
    code = 16


class TooManyTasksError(TaskQueueError):
    code = 18


class InvalidQueueModeError(TaskQueueError):
    code = 21


class TransactionalRequestTooLargeError(TaskQueueError):
    code = 23


class TaskLeaseExpiredError(TaskQueueError):
    code = 25


class QueuePausedError(TaskQueueError):
    code = 26


class InvalidTagError(TaskQueueError):
    code = 27


class UnknownTargetError(InvalidRequestError):
    """A task's target names no service of the running app (production has no such check;
    the emulator refuses it at add time so a typo does not silently route to `default`)."""


class BadTransactionStateError(InvalidRequestError):
    """transactional=True without an open datastore transaction (production raises this in the
    client library; the service raises it too so every caller gets the same answer)."""


class QueueAlreadyExistsError(InvalidRequestError):
    """CreateQueue (Cloud Tasks) of a name that is taken."""


class QueueRecentlyDeletedError(InvalidRequestError):
    """CreateQueue (Cloud Tasks) of a name deleted too recently (production holds names)."""


class QueueNotEditableError(InvalidRequestError):
    """UpdateQueue/DeleteQueue (Cloud Tasks) of a queue that queue.yaml defines."""


def first_error(results: Sequence[Tuple[Optional[str], Optional[TaskQueueError]]]) -> Optional[TaskQueueError]:
    """The error a bulk add reports: the first one, unless it is AlreadyExists/Tombstoned and a
    later error is of another kind (B5, `Queue.__AddTasks`)."""
    chosen: Optional[TaskQueueError] = None
    for _, error in results:
        if error is None:
            continue
        if chosen is None or isinstance(chosen, (TaskAlreadyExistsError, TombstonedTaskError)):
            chosen = error
    return chosen
