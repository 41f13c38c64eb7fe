"""`Queue`, `QueueStatistics` and the module-level `add` of the client API: they turn `Task`s into
calls on the task queue service (`apiproxy.current().taskqueue`) and its answers back into task
state (`was_enqueued`, names) and client exceptions (`errors.translate`).

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.services.taskqueue` and this package.
"""
from __future__ import annotations

import datetime
from typing import Any, List, Optional

from gae_emu import apiproxy
from gae_emu.services.taskqueue import errors as svc
from gae_emu.services.taskqueue.models import (
    MAX_LEASE_SECONDS,
    MAX_PUSH_TASK_SIZE_BYTES,
    MAX_TASKS_PER_ADD,
    MAX_TASKS_PER_LEASE,
    QUEUE_NAME_PATTERN,
    QUEUE_NAME_RE,
)

from .errors import (
    BadTaskStateError,
    BadTransactionStateError,
    DuplicateTaskNameError,
    InvalidLeaseTimeError,
    InvalidMaxTasksError,
    InvalidQueueNameError,
    TooManyTasksError,
    translate,
)
from .task import Task

MAX_TASK_SIZE_BYTES = MAX_PUSH_TASK_SIZE_BYTES
MAX_DISPATCH_DEADLINE = datetime.timedelta(hours=24)
MIN_DISPATCH_DEADLINE = datetime.timedelta(seconds=15)
_DEFAULT_QUEUE = "default"


class QueueStatistics:
    """The state of a queue, as `Queue.fetch_statistics()` returns it."""

    _ATTRS = ("queue", "tasks", "oldest_eta_usec", "executed_last_minute", "in_flight", "enforced_rate")

    def __init__(self, queue: "Queue", tasks: int, oldest_eta_usec: Optional[int] = None,
                 executed_last_minute: Optional[int] = None, in_flight: Optional[int] = None,
                 enforced_rate: Optional[float] = None) -> None:
        self.queue = queue
        self.tasks = tasks
        self.oldest_eta_usec = oldest_eta_usec
        self.executed_last_minute = executed_last_minute
        self.in_flight = in_flight
        self.enforced_rate = enforced_rate

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QueueStatistics):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self._ATTRS)

    def __repr__(self) -> str:
        return "QueueStatistics(%s)" % ", ".join(f"{a}={getattr(self, a)!r}" for a in self._ATTRS)

    @classmethod
    def fetch(cls, queue_or_queues: Any, deadline: float = 10) -> Any:
        single = isinstance(queue_or_queues, (str, Queue))
        queues = [queue_or_queues] if single else list(queue_or_queues)
        queues = [Queue(q) if isinstance(q, str) else q for q in queues]
        stats = _service().stats()
        result = []
        for queue in queues:
            if queue.name not in stats:
                raise translate(svc.UnknownQueueError(f"Unknown queue {queue.name!r}"))
            s = stats[queue.name]
            result.append(cls(queue, s.tasks, None if s.oldest_eta is None else int(round(s.oldest_eta * 1e6)),
                              s.executed_last_minute, s.in_flight, None))
        return result[0] if single else result


def _service() -> Any:
    return apiproxy.current().taskqueue


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except svc.TaskQueueError as exc:
        raise translate(exc) from None


class Queue:
    """A queue, by name; `default` always exists, others come from queue.yaml."""

    def __init__(self, name: str = _DEFAULT_QUEUE) -> None:
        if not QUEUE_NAME_RE.match(name or ""):
            raise InvalidQueueNameError(f'Queue name does not match pattern "{QUEUE_NAME_PATTERN}"; found {name}')
        self.__name = name
        self._app: Optional[str] = None

    @property
    def name(self) -> str:
        return self.__name

    def __repr__(self) -> str:
        return f"Queue<name={self.__name!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Queue) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    # -- adding -----------------------------------------------------------------------------------

    def add(self, task: Any, transactional: bool = False) -> Any:
        """Add a task or a list of tasks; returns what was given, with names filled in.

        Without a transaction each task is added on its own (like production's BulkAdd): on an
        error, check `Task.was_enqueued`. With `transactional=True`, the tasks are enqueued when the
        current datastore transaction commits, and dropped if it rolls back."""
        multiple = not isinstance(task, Task)
        tasks: List[Task] = list(task) if multiple else [task]
        if not tasks:
            return [] if multiple else task
        if len(tasks) > MAX_TASKS_PER_ADD:
            raise TooManyTasksError(f"No more than {MAX_TASKS_PER_ADD} tasks can be added in a single call")
        names: set = set()
        for t in tasks:
            if t.name:
                if t.name in names:
                    raise DuplicateTaskNameError(f"The task name {t.name!r} is used more than once in the request")
                names.add(t.name)
            if t.was_enqueued:
                raise BadTaskStateError("The task has already been enqueued.")
        new_tasks = [t._to_new_task(self.__name) for t in tasks]
        if transactional:
            txn = apiproxy.current_transaction.get()
            if txn is None:
                raise BadTransactionStateError("Transactional adds are not allowed outside of transactions")
            chosen = _call(_service().add_transactional, new_tasks, txn)
            for t, name in zip(tasks, chosen):
                t._enqueued(self.__name, name)
        else:
            results = _call(_service().add_results, new_tasks)
            for t, (name, error) in zip(tasks, results):
                if error is None and name is not None:
                    t._enqueued(self.__name, name)
            error = svc.first_error(results)
            if error is not None:
                raise translate(error)
        return tasks if multiple else tasks[0]

    # -- deleting ---------------------------------------------------------------------------------

    def delete_tasks(self, task: Any) -> Any:
        """Delete a task or list of tasks by name; `Task.was_deleted` tells which went."""
        multiple = not isinstance(task, Task)
        tasks: List[Task] = list(task) if multiple else [task]
        names: set = set()
        for t in tasks:
            if not t.name:
                raise BadTaskStateError("A task name must be specified for a task")
            if t.was_deleted:
                raise BadTaskStateError(f"The task {t.name} has already been deleted")
            if t.name in names:
                raise DuplicateTaskNameError(f"The task name {t.name!r} is used more than once in the request")
            names.add(t.name)
        results = _call(_service().delete, self.__name, [t.name for t in tasks])
        first: Optional[Exception] = None
        for t, error in zip(tasks, results):
            t._deleted(error is None)
            if error is not None and not isinstance(error, (svc.UnknownTaskError, svc.TombstonedTaskError)):
                first = first or translate(error)
        if first is not None:
            raise first
        return tasks if multiple else tasks[0]

    def delete_tasks_by_name(self, task_name: Any) -> Any:
        if isinstance(task_name, str):
            return self.delete_tasks(Task(name=task_name))
        return self.delete_tasks([Task(name=n) for n in task_name])

    def purge(self) -> None:
        _call(_service().purge, self.__name)

    # -- pull queues ------------------------------------------------------------------------------

    @staticmethod
    def _validate_lease(lease_seconds: Any, max_tasks: Any = 1) -> float:
        if not isinstance(lease_seconds, (int, float)):
            raise TypeError("lease_seconds must be a float or an integer")
        if lease_seconds < 0:
            raise InvalidLeaseTimeError("lease_seconds must not be negative")
        if lease_seconds > MAX_LEASE_SECONDS:
            raise InvalidLeaseTimeError(f"Lease time must not be greater than {MAX_LEASE_SECONDS} seconds")
        if not isinstance(max_tasks, int):
            raise TypeError("max_tasks must be an integer")
        if max_tasks <= 0:
            raise InvalidMaxTasksError("Negative or zero tasks requested")
        if max_tasks > MAX_TASKS_PER_LEASE:
            raise InvalidMaxTasksError(f"Only {MAX_TASKS_PER_LEASE} tasks can be leased at once")
        return float(lease_seconds)

    def lease_tasks(self, lease_seconds: float, max_tasks: int, deadline: float = 10) -> List[Task]:
        lease = self._validate_lease(lease_seconds, max_tasks)
        records = _call(_service().lease_tasks, self.__name, lease, max_tasks)
        return [Task._from_record(r) for r in records]

    def lease_tasks_by_tag(self, lease_seconds: float, max_tasks: int, tag: Optional[str] = None,
                           deadline: float = 10) -> List[Task]:
        lease = self._validate_lease(lease_seconds, max_tasks)
        records = _call(_service().lease_tasks, self.__name, lease, max_tasks, tag=tag, group_by_tag=True)
        return [Task._from_record(r) for r in records]

    def modify_task_lease(self, task: Task, lease_seconds: float) -> None:
        lease = self._validate_lease(lease_seconds)
        new_eta = _call(_service().modify_lease, self.__name, task.name, task._eta_usec / 1e6, lease)
        task._set_eta_posix(new_eta)

    def fetch_statistics(self, deadline: float = 10) -> QueueStatistics:
        return QueueStatistics.fetch(self, deadline)


def add(*args: Any, **kwargs: Any) -> Task:
    """Create a task and add it: `add(payload, queue_name='default', transactional=False, ...)`."""
    transactional = kwargs.pop("transactional", False)
    queue_name = kwargs.pop("queue_name", _DEFAULT_QUEUE)
    return Task(*args, **kwargs).add(queue_name=queue_name, transactional=transactional)
