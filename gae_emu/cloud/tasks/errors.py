"""Cloud Tasks errors as the real service answers them: `CloudTasksError(code, message)` raised
deep, turned into a gRPC status once (`grpc_errors`), and the task queue service's errors mapped
to production's status codes and messages (recorded against the real service).

Imports: the standard library, grpc and `gae_emu.services.taskqueue.errors`.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable

import grpc

from gae_emu.services.taskqueue import errors as tq

log = logging.getLogger("gae_emu.cloud.tasks")

QUEUE_NOT_FOUND = "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize."
NOT_FOUND = "Requested entity was not found."
TASK_GONE = ("The task no longer exists, though a task with this name existed recently. "
             "The task either successfully completed or was deleted.")
ALREADY_EXISTS = "Requested entity already exists"
QUEUE_EXISTS = "Queue already exists"
QUEUE_RECENTLY_DELETED = "The queue cannot be created because a queue with this name existed too recently."


class CloudTasksError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> CloudTasksError:
    return CloudTasksError(grpc.StatusCode.INVALID_ARGUMENT, message)


def from_service(exc: tq.TaskQueueError) -> CloudTasksError:
    """The status production answers for what the task queue service refused."""
    code = grpc.StatusCode
    if isinstance(exc, tq.UnknownQueueError):
        return CloudTasksError(code.NOT_FOUND, QUEUE_NOT_FOUND)
    if isinstance(exc, (tq.TaskAlreadyExistsError, tq.TombstonedTaskError)):
        return CloudTasksError(code.ALREADY_EXISTS, ALREADY_EXISTS)
    if isinstance(exc, tq.UnknownTaskError):
        return CloudTasksError(code.NOT_FOUND, NOT_FOUND)
    if isinstance(exc, tq.QueueAlreadyExistsError):
        return CloudTasksError(code.ALREADY_EXISTS, QUEUE_EXISTS)
    if isinstance(exc, tq.QueueRecentlyDeletedError):
        return CloudTasksError(code.FAILED_PRECONDITION, QUEUE_RECENTLY_DELETED)
    if isinstance(exc, (tq.QueueNotEditableError, tq.InvalidQueueModeError, tq.TaskLeaseExpiredError)):
        return CloudTasksError(code.FAILED_PRECONDITION, exc.message)
    if type(exc) is tq.TransientError:
        return CloudTasksError(code.UNAVAILABLE, exc.message)
    if type(exc) is tq.InternalError:
        return CloudTasksError(code.INTERNAL, exc.message)
    return CloudTasksError(code.INVALID_ARGUMENT, exc.message or type(exc).__name__)


def grpc_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Abort the call with the error's status; anything unexpected is INTERNAL (and logged),
    never a traceback at the client."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except CloudTasksError as exc:
            context.abort(exc.code, exc.message)
        except tq.TaskQueueError as exc:
            error = from_service(exc)
            context.abort(error.code, error.message)
        except Exception as exc:  # the emulator's bug: report it, keep serving
            log.exception("Cloud Tasks %s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"gae-emu: {type(exc).__name__}: {exc}")

    return wrapper
