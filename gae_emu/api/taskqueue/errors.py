"""The client error classes of `google.appengine.api.taskqueue`, with their hierarchy, and
`translate`, the one table from the service's errors to them.

Imports: the standard library and `gae_emu.services.taskqueue.errors` only.
"""
from __future__ import annotations

from typing import Dict, Type

from gae_emu.services.taskqueue import errors as svc


class Error(Exception):
    """Base class for exceptions in this module."""


class UnknownQueueError(Error):
    """The queue specified is unknown."""


class TransientError(Error):
    """A transient error occurred while accessing the queue. Try again later."""


class InternalError(Error):
    """An internal error occurred while accessing this queue."""


class InvalidTaskError(Error):
    """The parameters, headers, or method of the task is invalid."""


class InvalidTaskNameError(InvalidTaskError):
    """The name of the task is invalid."""


class TaskTooLargeError(InvalidTaskError):
    """The task is too large with its headers and payload."""


class TaskAlreadyExistsError(InvalidTaskError):
    """The task already exists. It has not yet run."""


class TombstonedTaskError(InvalidTaskError):
    """The task has been tombstoned: a task with the same name ran or was deleted."""


class InvalidUrlError(InvalidTaskError):
    """The relative URL used for the task is invalid."""


class InvalidEtaError(InvalidTaskError):
    """The task's ETA is invalid."""


class BadTaskStateError(Error):
    """The task is in the wrong state for the requested operation."""


class InvalidQueueError(Error):
    """The queue's configuration is invalid."""


class InvalidQueueNameError(InvalidQueueError):
    """The name of the queue is invalid."""


class PermissionDeniedError(Error):
    """The requested operation is not allowed for this app."""


class DuplicateTaskNameError(Error):
    """Two tasks of one add have the same name."""


class TooManyTasksError(Error):
    """Too many tasks were present in a single function call."""


class DatastoreError(Error):
    """There was a datastore error while accessing the queue."""


class BadTransactionStateError(Error):
    """The state of the current transaction does not permit this operation."""


BadTransactionState = BadTransactionStateError


class InvalidTaskRetryOptionsError(Error):
    """The task retry configuration is invalid."""


class InvalidLeaseTimeError(Error):
    """The lease time period is invalid."""


class InvalidMaxTasksError(Error):
    """The requested maximum number of tasks in `lease_tasks` is invalid."""


class InvalidDeadlineError(Error):
    """The requested deadline in `lease_tasks` is invalid."""


class InvalidQueueModeError(Error):
    """Invokes a pull queue operation on a push queue or vice versa."""


class TransactionalRequestTooLargeError(TaskTooLargeError):
    """The total size of this transaction (including tasks) was too large."""


class TaskLeaseExpiredError(Error):
    """The task lease could not be renewed because it had already expired."""


class QueuePausedError(Error):
    """The queue is paused and cannot process modify task lease requests."""


class InvalidTagError(Error):
    """The specified tag is invalid."""


class InvalidDispatchDeadlineError(Error):
    """The requested dispatch deadline for a push task is invalid."""


# Service error -> client error. The unknown-target check is the emulator's own, reported as an
# invalid task; other codes without a class become `Error`, as `_TranslateError` does.
_ERROR_MAP: Dict[Type[svc.TaskQueueError], Type[Error]] = {
    svc.UnknownQueueError: UnknownQueueError,
    svc.TransientError: TransientError,
    svc.InternalError: InternalError,
    svc.TaskTooLargeError: TaskTooLargeError,
    svc.InvalidTaskNameError: InvalidTaskNameError,
    svc.InvalidQueueNameError: InvalidQueueNameError,
    svc.InvalidUrlError: InvalidUrlError,
    svc.InvalidQueueRateError: InvalidQueueError,
    svc.PermissionDeniedError: PermissionDeniedError,
    svc.TaskAlreadyExistsError: TaskAlreadyExistsError,
    svc.TombstonedTaskError: TombstonedTaskError,
    svc.InvalidEtaError: InvalidEtaError,
    svc.InvalidRequestError: Error,
    svc.UnknownTaskError: Error,
    svc.DuplicateTaskNameError: DuplicateTaskNameError,
    svc.TooManyTasksError: TooManyTasksError,
    svc.InvalidQueueModeError: InvalidQueueModeError,
    svc.TransactionalRequestTooLargeError: TransactionalRequestTooLargeError,
    svc.TaskLeaseExpiredError: TaskLeaseExpiredError,
    svc.QueuePausedError: QueuePausedError,
    svc.InvalidTagError: InvalidTagError,
    svc.UnknownTargetError: InvalidTaskError,
    svc.BadTransactionStateError: BadTransactionStateError,
}


def translate(error: svc.TaskQueueError) -> Error:
    """The client exception for a service error (most specific class wins)."""
    for cls in type(error).__mro__:
        if cls in _ERROR_MAP:
            return _ERROR_MAP[cls](error.message)
    return Error(f"Application error {error.code}: {error.message}")
