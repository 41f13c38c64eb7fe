"""`taskqueue` over the wire: BulkAdd, Add, Delete, PurgeQueue, QueryTasks, FetchQueueStats,
QueryAndOwnTasks, ModifyTaskLease, answered by the emulator's `TaskQueueService`.

BulkAdd reports one result per task, in order: OK (with `chosen_task_name` when the client left the
name empty), or the task's error code (10 AlreadyExists, 11 Tombstoned, 4 TooLarge, ...), or SKIPPED
(17) for the valid tasks of a batch that had an invalid one; whole-request problems (unknown queue,
too many tasks) are an `application_error` with the service error's code. Adds carrying a datastore
`transaction` go to `add_transactional`, so the datastore commit enqueues them and a rollback drops
them. A task's `Host` header names the service it runs on (the client sets it from `_target` via
`modules.GetHostname`), so it becomes the task's target when it is one of the emulator's hostnames.

Not supported yet: `app_id` of another app (ignored), `crontimetable`, `payload` (the old MessageSet
payloads), queue management calls (UpdateQueue, PauseQueue, DeleteQueue, FetchQueues, ...).

Imports: the standard library, `gae_emu.config.models`, `gae_emu.services.*`, this package.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler
from gae_emu.config.models import RetryParameters
from gae_emu.services.datastore import DatastoreService
from gae_emu.services.datastore import Error as DatastoreError
from gae_emu.services.taskqueue import errors
from gae_emu.services.taskqueue.models import NewTask, TaskRecord
from gae_emu.services.taskqueue.service import TaskQueueService

METHODS = {1: "GET", 2: "POST", 3: "HEAD", 4: "PUT", 5: "DELETE"}
METHOD_NUMBERS = {name: number for number, name in METHODS.items()}
PULL_MODE = 1
USEC = 1_000_000


def _translated(fn: Callable) -> Callable:
    """Task queue errors keep their code; datastore errors (a bad transaction) become 10000 + code,
    which the client turns into `taskqueue.DatastoreError` subclasses."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except errors.TaskQueueError as exc:
            raise ApplicationError(exc.code, exc.message or type(exc).__name__) from None
        except DatastoreError as exc:
            raise ApplicationError(errors.DATASTORE_ERROR + (exc.code or 1), str(exc)) from None

    return wrapper


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _usec(seconds: Optional[float]) -> int:
    return int(round(seconds * USEC)) if seconds is not None else 0


def retry_from_pb(message: Any) -> RetryParameters:
    def field(name: str) -> Any:
        return getattr(message, name) if message.HasField(name) else None

    return RetryParameters(task_retry_limit=field("retry_limit"), task_age_limit=field("age_limit_sec"),
                           min_backoff_seconds=field("min_backoff_sec"), max_backoff_seconds=field("max_backoff_sec"),
                           max_doublings=field("max_doublings"))


def retry_to_pb(retry: RetryParameters, message: Any) -> None:
    for name, value in (("retry_limit", retry.task_retry_limit), ("age_limit_sec", retry.task_age_limit),
                        ("min_backoff_sec", retry.min_backoff_seconds), ("max_backoff_sec", retry.max_backoff_seconds),
                        ("max_doublings", retry.max_doublings)):
        if value is not None:
            setattr(message, name, type(getattr(message, name))(value))


class TaskQueue(ServiceHandler):
    name = "taskqueue"

    def __init__(self, service: TaskQueueService, datastore: DatastoreService, hostnames: Mapping[str, str]) -> None:
        self.service = service
        self.datastore = datastore
        self.hostnames = hostnames

    def methods(self) -> Dict[str, Method]:
        t = pb().taskqueue
        return {
            "BulkAdd": (t.TaskQueueBulkAddRequest, self.bulk_add),
            "Add": (t.TaskQueueAddRequest, self.add),
            "Delete": (t.TaskQueueDeleteRequest, self.delete),
            "PurgeQueue": (t.TaskQueuePurgeQueueRequest, self.purge_queue),
            "QueryTasks": (t.TaskQueueQueryTasksRequest, self.query_tasks),
            "FetchQueueStats": (t.TaskQueueFetchQueueStatsRequest, self.fetch_queue_stats),
            "QueryAndOwnTasks": (t.TaskQueueQueryAndOwnTasksRequest, self.query_and_own_tasks),
            "ModifyTaskLease": (t.TaskQueueModifyTaskLeaseRequest, self.modify_task_lease),
        }

    # -- adding -------------------------------------------------------------------------------------

    def task_from_pb(self, add: Any) -> NewTask:
        headers = tuple((_text(h.key), _text(h.value)) for h in add.header)
        host = next((value for key, value in headers if key.lower() == "host"), None)
        target = next((s for s, hostname in self.hostnames.items() if hostname == host), None)
        return NewTask(
            queue=_text(add.queue_name) or "default",
            name=_text(add.task_name) or None,
            url=_text(add.url),
            method="PULL" if add.mode == PULL_MODE else METHODS.get(add.method, "POST"),
            headers=headers,
            payload=add.body,
            eta=add.eta_usec / USEC if add.HasField("eta_usec") else None,
            target=target,
            retry=retry_from_pb(add.retry_parameters) if add.HasField("retry_parameters") else None,
            tag=_text(add.tag) if add.HasField("tag") else None,
            dispatch_deadline=add.dispatch_deadline_usec / USEC if add.HasField("dispatch_deadline_usec") else None,
        )

    def _add(self, adds: Sequence[Any]) -> List[Any]:
        """(chosen name, error) per task; transactional batches all-or-error, like the service."""
        tasks = [self.task_from_pb(a) for a in adds]
        if adds and adds[0].HasField("transaction"):
            txn = self.datastore.transaction(adds[0].transaction.handle)
            return [(name, None) for name in self.service.add_transactional(tasks, txn)]
        return self.service.add_results(tasks)

    @_translated
    def bulk_add(self, request: Any, call: Call) -> Any:
        adds = list(request.add_request)
        response = pb().taskqueue.TaskQueueBulkAddResponse()
        for add, (name, error) in zip(adds, self._add(adds)):
            result = response.taskresult.add()
            if error is not None:
                result.result = error.code
            elif name is None:
                result.result = errors.SKIPPED
            else:
                result.result = errors.OK
                if not add.task_name:
                    result.chosen_task_name = name.encode("utf-8")
        return response

    @_translated
    def add(self, request: Any, call: Call) -> Any:
        [(name, error)] = self._add([request])
        if error is not None:
            raise error
        response = pb().taskqueue.TaskQueueAddResponse()
        if not request.task_name and name:
            response.chosen_task_name = name.encode("utf-8")
        return response

    # -- deleting -----------------------------------------------------------------------------------

    @_translated
    def delete(self, request: Any, call: Call) -> Any:
        outcomes = self.service.delete(_text(request.queue_name), [_text(n) for n in request.task_name])
        response = pb().taskqueue.TaskQueueDeleteResponse()
        response.result.extend(errors.OK if e is None else e.code for e in outcomes)
        return response

    @_translated
    def purge_queue(self, request: Any, call: Call) -> Any:
        self.service.purge(_text(request.queue_name))
        return pb().taskqueue.TaskQueuePurgeQueueResponse()

    # -- reading ------------------------------------------------------------------------------------

    def _stats(self, queue: str) -> Any:
        stats = self.service.stats().get(queue)
        if stats is None:
            raise errors.UnknownQueueError(f"Unknown queue {queue!r}.")
        return stats

    @_translated
    def query_tasks(self, request: Any, call: Call) -> Any:
        queue = _text(request.queue_name)
        stats = self._stats(queue)
        start = (request.start_eta_usec, _text(request.start_task_name))
        rows = [t for t in self.service.list_tasks(queue, limit=max(stats.tasks, 1))
                if (_usec(t.eta), t.name) >= start and (not request.HasField("start_tag") or t.tag == _text(request.start_tag))]
        response = pb().taskqueue.TaskQueueQueryTasksResponse()
        for record in rows[:request.max_rows or 1]:
            self._fill_task(record, response.task.add())
        return response

    @staticmethod
    def _fill_task(record: TaskRecord, task: Any) -> None:
        task.task_name = record.name.encode("utf-8")
        task.eta_usec = _usec(record.eta)
        task.creation_time_usec = _usec(record.created)
        task.retry_count = record.retry_count
        task.execution_count = record.execution_count
        task.body_size = len(record.payload)
        task.body = record.payload
        if record.mode != "pull":
            task.url = record.url.encode("utf-8")
            task.method = METHOD_NUMBERS.get(record.method.upper(), 2)
        for key, value in record.headers:
            header = task.header.add()
            header.key, header.value = key.encode("utf-8"), value.encode("utf-8")
        if record.retry is not None:
            retry_to_pb(record.retry, task.retry_parameters)
        if record.first_try is not None:
            task.first_try_usec = _usec(record.first_try)
        if record.tag is not None:
            task.tag = record.tag.encode("utf-8")
        if record.dispatch_deadline is not None:
            task.dispatch_deadline_usec = _usec(record.dispatch_deadline)

    @_translated
    def fetch_queue_stats(self, request: Any, call: Call) -> Any:
        response = pb().taskqueue.TaskQueueFetchQueueStatsResponse()
        for name in request.queue_name:
            stats = self._stats(_text(name))
            out = response.queuestats.add()
            out.num_tasks = stats.tasks
            out.oldest_eta_usec = _usec(stats.oldest_eta) if stats.oldest_eta is not None else -1
            info = out.scanner_info
            info.executed_last_minute = stats.executed_last_minute
            info.executed_last_hour = stats.executed_last_minute  # only the last minute is counted
            info.sampling_duration_seconds = 60.0
            info.requests_in_flight = stats.in_flight
        return response

    # -- pull queues --------------------------------------------------------------------------------

    @_translated
    def query_and_own_tasks(self, request: Any, call: Call) -> Any:
        leased = self.service.lease_tasks(
            _text(request.queue_name), request.lease_seconds, request.max_tasks,
            tag=_text(request.tag) if request.HasField("tag") else None, group_by_tag=request.group_by_tag)
        response = pb().taskqueue.TaskQueueQueryAndOwnTasksResponse()
        for record in leased:
            task = response.task.add()
            task.task_name = record.name.encode("utf-8")
            task.eta_usec = _usec(record.eta)
            task.retry_count = record.retry_count
            task.body = record.payload
            if record.tag is not None:
                task.tag = record.tag.encode("utf-8")
        return response

    @_translated
    def modify_task_lease(self, request: Any, call: Call) -> Any:
        eta = self.service.modify_lease(_text(request.queue_name), _text(request.task_name),
                                        request.eta_usec / USEC, request.lease_seconds)
        response = pb().taskqueue.TaskQueueModifyTaskLeaseResponse()
        response.updated_eta_usec = _usec(eta)
        return response
