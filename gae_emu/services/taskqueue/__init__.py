"""The emulated task queue service: push and pull queues, named tasks, tombstones, retries and the
dispatcher that runs due push tasks. No HTTP here: the runtime supplies `execute(record) -> status`.

Imports: the standard library, `gae_emu.storage` and `gae_emu.config.models` only.
"""
from . import errors
from .dispatcher import Dispatcher
from .models import NewTask, QueueStats, TaskRecord, task_size
from .retry import RetryPolicy
from .service import TaskQueueService

__all__ = ["Dispatcher", "NewTask", "QueueStats", "RetryPolicy", "TaskQueueService", "TaskRecord", "errors", "task_size"]
