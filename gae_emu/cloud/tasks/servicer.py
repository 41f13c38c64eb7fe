"""`CloudTasksServicer`: the Cloud Tasks v2 gRPC methods (google.cloud.tasks.v2.CloudTasks) over
the emulator's `TaskQueueService`: the queue methods (List/Get/Create/Update/Delete/Purge/Pause/
Resume) and the task methods (Create/Get/List/Delete/Run). Unregistered methods (IAM, batch, CMEK)
answer UNIMPLEMENTED, as grpc does for any unknown method.

Names, tombstones, retries, rates and pause live in the service; this module parses names, converts
messages (`convert`) and maps errors (`errors`). RunTask runs the task at once, whatever its
schedule, its queue's pause or rate, on a thread of its own through `execute` (the dispatcher's
delivery), and records the outcome as any attempt.

Imports: the standard library, grpc, google-cloud-tasks, protobuf, `gae_emu.services.taskqueue`,
`gae_emu.cloud`.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable, List, Mapping, Optional, Tuple

import grpc
from google.cloud.tasks_v2.types import cloudtasks
from google.protobuf import empty_pb2, field_mask_pb2

from gae_emu.cloud.grpcserver import generic_handler, unary
from gae_emu.config.models import QueueDef
from gae_emu.services.taskqueue import errors as tq
from gae_emu.services.taskqueue.models import TaskRecord
from gae_emu.services.taskqueue.service import TaskQueueService

from . import convert
from .errors import NOT_FOUND, QUEUE_NOT_FOUND, TASK_GONE, CloudTasksError, grpc_errors, invalid
from .names import Names

log = logging.getLogger("gae_emu.cloud.tasks")

SERVICE = "google.cloud.tasks.v2.CloudTasks"
MAX_TASKS_PAGE = 1000
MAX_QUEUES_PAGE = 9800
OUTPUT_ONLY_QUEUE_FIELDS = ("name", "state", "purge_time", "rate_limits.max_burst_size")
_STATE_FILTER = re.compile(r"^\s*state\s*[:=]\s*(RUNNING|PAUSED|DISABLED)\s*$")


def _page(token: str, size: int, limit: int) -> Tuple[int, int]:
    """(offset, page size) from a page token and size (0: the largest page)."""
    if size < 0:
        raise invalid(f"page_size cannot be negative; found {size}.")
    try:
        offset = int(token) if token else 0
    except ValueError:
        raise invalid(f"Invalid page_token {token!r}.") from None
    if offset < 0:
        raise invalid(f"Invalid page_token {token!r}.")
    return offset, min(size or limit, limit)


class CloudTasksServicer:
    def __init__(self, service: TaskQueueService, names: Names, execute: Callable[[TaskRecord], int],
                 hostnames: Mapping[str, str] = {}) -> None:
        self.service = service
        self.names = names
        self.execute = execute
        self.hostnames = hostnames

    def handler(self) -> grpc.GenericRpcHandler:
        c = cloudtasks
        Queue, Task, Empty = convert.Queue, convert.Task, empty_pb2.Empty
        methods = {
            "ListQueues": (self.list_queues, c.ListQueuesRequest.pb(), c.ListQueuesResponse.pb()),
            "GetQueue": (self.get_queue, c.GetQueueRequest.pb(), Queue),
            "CreateQueue": (self.create_queue, c.CreateQueueRequest.pb(), Queue),
            "UpdateQueue": (self.update_queue, c.UpdateQueueRequest.pb(), Queue),
            "DeleteQueue": (self.delete_queue, c.DeleteQueueRequest.pb(), Empty),
            "PurgeQueue": (self.purge_queue, c.PurgeQueueRequest.pb(), Queue),
            "PauseQueue": (self.pause_queue, c.PauseQueueRequest.pb(), Queue),
            "ResumeQueue": (self.resume_queue, c.ResumeQueueRequest.pb(), Queue),
            "ListTasks": (self.list_tasks, c.ListTasksRequest.pb(), c.ListTasksResponse.pb()),
            "GetTask": (self.get_task, c.GetTaskRequest.pb(), Task),
            "CreateTask": (self.create_task, c.CreateTaskRequest.pb(), Task),
            "DeleteTask": (self.delete_task, c.DeleteTaskRequest.pb(), Empty),
            "RunTask": (self.run_task, c.RunTaskRequest.pb(), Task),
        }
        return generic_handler(SERVICE, {name: unary(fn, req, resp) for name, (fn, req, resp) in methods.items()})

    # -- queues -----------------------------------------------------------------------------------

    def _queue(self, name: str) -> QueueDef:
        """The push queue a queue name names, else NOT_FOUND (v2 has no pull queues)."""
        queue = self.service.queue_config().get(self.names.parse_queue(name))
        if queue is None or queue.mode == "pull":
            raise CloudTasksError(grpc.StatusCode.NOT_FOUND, QUEUE_NOT_FOUND)
        return queue

    def _queue_pb(self, queue: QueueDef) -> Any:
        return convert.queue_to_pb(queue, self.names)

    @grpc_errors
    def list_queues(self, request: Any, context: Any) -> Any:
        self.names.parse_parent(request.parent)
        offset, size = _page(request.page_token, request.page_size, MAX_QUEUES_PAGE)
        messages = [self._queue_pb(q) for q in self.service.queue_config().queues if q.mode != "pull"]
        if request.filter:
            match = _STATE_FILTER.match(request.filter)
            if match is None:
                raise invalid(f"Unsupported filter {request.filter!r}; only 'state: RUNNING|PAUSED|DISABLED' is.")
            state = convert.STATE[match.group(1)]
            messages = [m for m in messages if m.state == state]
        response = cloudtasks.ListQueuesResponse.pb()(queues=messages[offset:offset + size])
        if offset + size < len(messages):
            response.next_page_token = str(offset + size)
        return response

    @grpc_errors
    def get_queue(self, request: Any, context: Any) -> Any:
        return self._queue_pb(self._queue(request.name))

    @grpc_errors
    def create_queue(self, request: Any, context: Any) -> Any:
        self.names.parse_parent(request.parent)
        queue_id = self.names.parse_queue(request.queue.name)
        if not request.queue.name.startswith(request.parent + "/queues/"):
            raise invalid(f"Queue.name {request.queue.name!r} is not under parent {request.parent!r}.")
        return self._queue_pb(self.service.create_queue(convert.queue_from_pb(request.queue, queue_id)))

    @grpc_errors
    def update_queue(self, request: Any, context: Any) -> Any:
        queue_id = self.names.parse_queue(request.queue.name)
        paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
        if paths:
            existing = self.service.queue_config().get(queue_id)
            merged = self._queue_pb(existing) if existing is not None else convert.Queue(name=request.queue.name)
            for path in paths:
                if path in OUTPUT_ONLY_QUEUE_FIELDS:
                    raise invalid(f"update_mask path {path!r} names an output-only field.")
            try:
                mask = field_mask_pb2.FieldMask(paths=paths)
                if not mask.IsValidForDescriptor(convert.Queue.DESCRIPTOR):
                    raise ValueError(paths)
                mask.MergeMessage(request.queue, merged, replace_message_field=True)
            except ValueError:
                raise invalid(f"Invalid update_mask {', '.join(paths)} for a Queue.") from None
        else:
            merged = request.queue
        return self._queue_pb(self.service.update_queue(convert.queue_from_pb(merged, queue_id)))

    @grpc_errors
    def delete_queue(self, request: Any, context: Any) -> Any:
        queue_id = self.names.parse_queue(request.name)
        try:
            self.service.delete_queue(queue_id)
        except tq.UnknownQueueError:
            raise CloudTasksError(grpc.StatusCode.NOT_FOUND, NOT_FOUND) from None
        return empty_pb2.Empty()

    @grpc_errors
    def purge_queue(self, request: Any, context: Any) -> Any:
        queue = self._queue(request.name)
        self.service.purge(queue.name)
        return self._queue_pb(self.service.queue_config().get(queue.name))

    @grpc_errors
    def pause_queue(self, request: Any, context: Any) -> Any:
        return self._queue_pb(self.service.pause_queue(self._queue(request.name).name))

    @grpc_errors
    def resume_queue(self, request: Any, context: Any) -> Any:
        return self._queue_pb(self.service.resume_queue(self._queue(request.name).name))

    # -- tasks ------------------------------------------------------------------------------------

    def _task_pb(self, record: TaskRecord, view: int) -> Any:
        return convert.task_to_pb(record, self.names, view, self.hostnames)

    def _record(self, name: str) -> TaskRecord:
        queue, task = self.names.parse_task(name)
        record = self.service.get_task(queue, task)
        if record is None or record.mode == "pull":
            gone = self.service.queue_config().get(queue) is not None and self.service.is_tombstoned(queue, task)
            raise CloudTasksError(grpc.StatusCode.NOT_FOUND, TASK_GONE if gone else NOT_FOUND)
        return record

    @grpc_errors
    def list_tasks(self, request: Any, context: Any) -> Any:
        queue = self._queue(request.parent)
        offset, size = _page(request.page_token, request.page_size, MAX_TASKS_PAGE)
        records: List[TaskRecord] = self.service.list_tasks(queue.name, limit=size + 1, offset=offset)
        response = cloudtasks.ListTasksResponse.pb()(
            tasks=[self._task_pb(r, request.response_view) for r in records[:size]])
        if len(records) > size:
            response.next_page_token = str(offset + size)
        return response

    @grpc_errors
    def get_task(self, request: Any, context: Any) -> Any:
        return self._task_pb(self._record(request.name), request.response_view)

    @grpc_errors
    def create_task(self, request: Any, context: Any) -> Any:
        queue = self._queue(request.parent)
        record = self.service.add_one(convert.task_from_pb(request.task, queue, self.names))
        return self._task_pb(record, request.response_view)

    @grpc_errors
    def delete_task(self, request: Any, context: Any) -> Any:
        queue, task = self.names.parse_task(request.name)
        (error,) = self.service.delete(queue, [task])
        if isinstance(error, tq.TombstonedTaskError):
            raise CloudTasksError(grpc.StatusCode.NOT_FOUND, TASK_GONE)
        if error is not None:
            raise CloudTasksError(grpc.StatusCode.NOT_FOUND, NOT_FOUND)
        return empty_pb2.Empty()

    @grpc_errors
    def run_task(self, request: Any, context: Any) -> Any:
        record = self._record(request.name)
        try:
            claimed = self.service.claim_task(record.queue, record.name)
        except tq.UnknownTaskError:  # it ran or was deleted meanwhile
            raise CloudTasksError(grpc.StatusCode.NOT_FOUND, NOT_FOUND) from None
        threading.Thread(target=self._run, args=(claimed,), name="gae-emu-cloudtasks-run", daemon=True).start()
        return self._task_pb(claimed, request.response_view)

    def _run(self, record: TaskRecord) -> None:
        try:
            status = int(self.execute(record))
        except Exception:  # the handler's failure is the task's
            log.exception("Task %s of queue %s raised", record.name, record.queue)
            status = 0
        self.service.complete([(record, status)], self.service.clock())
        self.service.notify()
