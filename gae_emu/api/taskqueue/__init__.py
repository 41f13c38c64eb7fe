"""`gae_emu.api.taskqueue`: App Engine's task queue client API (`google.appengine.api.taskqueue`),
backed by the emulator's task queue service. Use it as you would Google's:

    from gae_emu.api import taskqueue
    taskqueue.add(url="/work", params={"id": 1}, countdown=5)

Imports: this package and the service's limits (`gae_emu.services.taskqueue.models`).
"""
from .errors import (
    BadTaskStateError,
    BadTransactionState,
    BadTransactionStateError,
    DatastoreError,
    DuplicateTaskNameError,
    Error,
    InternalError,
    InvalidDeadlineError,
    InvalidDispatchDeadlineError,
    InvalidEtaError,
    InvalidLeaseTimeError,
    InvalidMaxTasksError,
    InvalidQueueError,
    InvalidQueueModeError,
    InvalidQueueNameError,
    InvalidTagError,
    InvalidTaskError,
    InvalidTaskNameError,
    InvalidTaskRetryOptionsError,
    InvalidUrlError,
    PermissionDeniedError,
    QueuePausedError,
    TaskAlreadyExistsError,
    TaskLeaseExpiredError,
    TaskTooLargeError,
    TombstonedTaskError,
    TooManyTasksError,
    TransactionalRequestTooLargeError,
    TransientError,
    UnknownQueueError,
)
from gae_emu.services.taskqueue.models import (
    MAX_LEASE_SECONDS,
    MAX_PULL_TASK_SIZE_BYTES,
    MAX_PUSH_TASK_SIZE_BYTES,
    MAX_QUEUE_NAME_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TASK_NAME_LENGTH,
    MAX_TASKS_PER_ADD,
    MAX_TASKS_PER_LEASE,
    MAX_TRANSACTIONAL_REQUEST_SIZE_BYTES,
    MAX_URL_LENGTH,
)
from .queue import MAX_DISPATCH_DEADLINE, MAX_TASK_SIZE_BYTES, MIN_DISPATCH_DEADLINE, Queue, QueueStatistics, add
from .task import DEFAULT_APP_VERSION, Task, TaskRetryOptions

__all__ = [name for name in dir() if not name.startswith("_")]
