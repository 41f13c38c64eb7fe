"""`TaskQueueService`: the task queues of one app, stored in its SQLite database.

Adding, deleting, purging, tombstones, transactional adds, listings and statistics live here; the
dispatch primitives (claim/complete/run_due) are in `pushqueue.py` and leasing in `pullqueue.py`,
mixed into this class. Queue configuration is read through a callable on every operation, so a
queue.yaml edit applies without a restart. Every write goes through `Storage.transaction()` (or a
caller's open SQLite transaction, for tasks enqueued by a datastore commit).

Imports: the standard library, `gae_emu.storage`, `gae_emu.config.models` and this package.
"""
from __future__ import annotations

import collections
import itertools
import threading
import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Any, Callable, ContextManager, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlite3

from gae_emu.config.models import QueueConfig, QueueDef
from gae_emu.storage import Storage, full_disk_as

from . import errors, store, validate
from .ratelimit import TokenBuckets
from .models import (
    MAX_PUSH_TASK_SIZE_BYTES,
    MAX_TASKS_PER_TRANSACTION,
    MAX_TRANSACTIONAL_REQUEST_SIZE_BYTES,
    API_QUEUE_TOMBSTONE_TTL_SECONDS,
    TOMBSTONE_TTL_SECONDS,
    NewTask,
    QueueStats,
    TaskRecord,
)
from .pullqueue import PullQueueOps
from .pushqueue import PushQueueOps
from .queues import QueueRegistry

AddResult = Tuple[Optional[str], Optional[errors.TaskQueueError]]


class TaskQueueService(PushQueueOps, PullQueueOps):
    """Push and pull queues with named tasks, tombstones and retries (no HTTP: see Dispatcher)."""

    def __init__(
        self,
        storage: Storage,
        queue_config: Callable[[], QueueConfig],
        *,
        known_targets: Callable[[], Iterable[str]] = lambda: (),
        clock: Callable[[], float] = time.time,
        max_task_size: int = MAX_PUSH_TASK_SIZE_BYTES,
        tombstone_ttl: float = TOMBSTONE_TTL_SECONDS,
        enforce_rates: bool = False,
    ) -> None:
        self.storage = storage
        # queue.yaml's queues (`queue_config`) plus those created through Cloud Tasks, with run state
        self.queues = QueueRegistry(storage, queue_config, clock)
        self.queue_config = self.queues.current
        self.known_targets = known_targets
        self.clock = clock
        self.max_task_size = max_task_size
        self.tombstone_ttl = tombstone_ttl
        self.enforce_rates = enforce_rates  # for queue.yaml queues; API queues always enforce theirs
        self.rate_limits = TokenBuckets()
        self._lock = threading.Lock()
        self._listeners: Tuple[Callable[[], None], ...] = ()  # replaced, never changed in place
        self._claims = itertools.count(1)
        self._executed: Dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._failures: Dict[str, int] = collections.defaultdict(int)
        self._txn_batches: Dict[int, List[List[NewTask]]] = {}
        storage.ensure_schema(store.SCHEMA_NAME, store.SCHEMA)
        with storage.transaction() as conn:
            store.migrate(conn)
            # Attempts of a previous process never reported back: run them again (at-least-once).
            conn.execute("UPDATE tq_tasks SET in_flight = 0 WHERE in_flight != 0")

    # -- plumbing ---------------------------------------------------------------------------------

    def _write(self, conn: Optional[sqlite3.Connection] = None) -> ContextManager[sqlite3.Connection]:
        """A caller's open transaction, else a new one."""
        return nullcontext(conn) if conn is not None else self.storage.transaction()

    def _tombstone_cutoff(self, now: float, queue: Optional[str] = None) -> float:
        """Names of tasks that ran before this cannot be reused. Production holds them about
        9 days in queue.yaml queues and about an hour in queues created through Cloud Tasks."""
        ttl = self.tombstone_ttl
        if queue is not None:
            definition = self.queue_config().get(queue)
            if definition is not None and definition.api:
                ttl = min(ttl, API_QUEUE_TOMBSTONE_TTL_SECONDS)
        return now - ttl

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever tasks may have become due (adds, "run now")."""
        with self._lock:
            self._listeners += (listener,)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x != listener)

    def notify(self) -> None:
        """Wake listeners; a datastore may call this after COMMIT of a transaction with tasks."""
        for listener in self._listeners:
            listener()

    # -- adding -----------------------------------------------------------------------------------

    @full_disk_as(errors.TransientError)
    def add_results(
        self, tasks: Sequence[NewTask], *, conn: Optional[sqlite3.Connection] = None, all_or_nothing: bool = False
    ) -> List[AddResult]:
        """Add a batch and report per task `(chosen name, None)` or `(None, error)`, as BulkAdd does.

        Batch-level problems (too many tasks, duplicate names, unknown queue, wrong mode) raise.
        If any task is invalid, none is added and the valid ones report `(None, None)` (SKIPPED).
        Otherwise each task is added unless its name is taken (AlreadyExists/Tombstoned); with
        `all_or_nothing` such a conflict adds nothing either.
        """
        tasks = list(tasks)
        now = self.clock()
        prepared = validate.prepare_all(
            tasks, self.queue_config(), now, self.max_task_size, tuple(self.known_targets()))
        if any(isinstance(p, errors.TaskQueueError) for p in prepared):
            return [(None, p) if isinstance(p, errors.TaskQueueError) else (None, None) for p in prepared]
        records: List[TaskRecord] = prepared  # type: ignore[assignment]
        queue = records[0].queue
        names = [r.name for r, t in zip(records, tasks) if t.name]  # chosen names cannot clash
        if not names:  # nothing to look up: just the insert (one statement for one task)
            self.storage.write(store.INSERT_TASK, [store.to_row(r) for r in records])
            self.storage.after_commit(self.notify)  # wake the dispatcher once the rows are visible
            return [(r.name, None) for r in records]
        with self._write(conn) as c:
            taken = store.existing_names(c, queue, names)
            dead = store.tombstoned_names(c, queue, names, self._tombstone_cutoff(now, queue))
            results: List[AddResult] = []
            for record in records:
                if record.name in taken:
                    results.append((None, errors.TaskAlreadyExistsError(
                        f"Task {record.name!r} already exists in queue {queue!r} and has not run yet.")))
                elif record.name in dead:
                    results.append((None, errors.TombstonedTaskError(
                        f"Task {record.name!r} in queue {queue!r} ran or was deleted recently; "
                        "task names cannot be reused until their tombstone expires.")))
                else:
                    results.append((record.name, None))
            conflict = any(error for _, error in results)
            if conflict and all_or_nothing:
                return [(None, e) for _, e in results]
            store.insert_tasks(c, (r for r, (_, e) in zip(records, results) if e is None))
            self.storage.after_commit(self.notify)  # wake the dispatcher once the rows are visible
        return results

    def add(self, tasks: Sequence[NewTask], *, conn: Optional[sqlite3.Connection] = None) -> List[str]:
        """Add a batch, all or nothing; returns the names (chosen for unnamed tasks). Raises the
        error a bulk add reports (`errors.first_error`). With `conn`, writes in that transaction."""
        results = self.add_results(tasks, conn=conn, all_or_nothing=True)
        error = errors.first_error(results)
        if error is not None:
            raise error
        return [name for name, _ in results]  # type: ignore[misc]

    def add_one(self, task: NewTask) -> TaskRecord:
        """Add one task and return it as stored (Cloud Tasks answers CreateTask with the task; it
        may have run already when this returns, so the record comes from the add itself)."""
        prepared = validate.prepare_all([task], self.queue_config(), self.clock(), self.max_task_size,
                                        tuple(self.known_targets()))[0]
        if isinstance(prepared, errors.TaskQueueError):
            raise prepared
        record: TaskRecord = prepared  # type: ignore[assignment]
        self.add([replace(task, name=record.name, eta=record.eta)])
        return self.get_task(record.queue, record.name) or record

    def is_tombstoned(self, queue: str, name: str) -> bool:
        """Whether a task of that name ran or was deleted recently (its name is still held)."""
        with self.storage.read() as conn:
            return bool(store.tombstoned_names(conn, queue, [name], self._tombstone_cutoff(self.clock(), queue)))

    def add_transactional(self, tasks: Sequence[NewTask], txn: Any) -> List[str]:
        """Validate `tasks` now and enqueue them when `txn` (a datastore transaction offering
        `on_commit(fn(conn))` and `on_rollback(fn)`) commits, inside its SQLite transaction.
        Returns the names chosen now (production names transactional tasks at add time)."""
        tasks = list(tasks)
        if txn is None:
            raise errors.BadTransactionStateError("Transactional adds are not allowed outside of transactions.")
        if any(t.name for t in tasks):
            raise errors.InvalidTaskNameError("A task bound to a transaction cannot be named.")
        key = id(txn)
        with self._lock:
            pending = sum(len(b) for b in self._txn_batches.get(key, ()))
        if pending + len(tasks) > MAX_TASKS_PER_TRANSACTION:
            raise errors.TooManyTasksError(
                f"Too many tasks in one transaction: at most {MAX_TASKS_PER_TRANSACTION} may be added.")
        if sum(t.size for t in tasks) > MAX_TRANSACTIONAL_REQUEST_SIZE_BYTES:
            raise errors.TransactionalRequestTooLargeError(
                f"Transactional request size must be less than {MAX_TRANSACTIONAL_REQUEST_SIZE_BYTES}.")
        now = self.clock()
        prepared = validate.prepare_all(tasks, self.queue_config(), now, self.max_task_size, tuple(self.known_targets()))
        error = errors.first_error([(None, p if isinstance(p, errors.TaskQueueError) else None) for p in prepared])
        if error is not None:
            raise error
        batch = [replace(t, name=r.name, eta=r.eta) for t, r in zip(tasks, prepared)]  # type: ignore[union-attr]
        with self._lock:
            first = key not in self._txn_batches
            self._txn_batches.setdefault(key, []).append(batch)
        if first:
            txn.on_commit(lambda conn: self._commit_transactional(key, conn))
            txn.on_rollback(lambda *_: self._forget_transactional(key))
        return [t.name for t in batch]  # type: ignore[misc]

    def _commit_transactional(self, key: int, conn: sqlite3.Connection) -> None:
        for batch in self._forget_transactional(key):
            self.add(batch, conn=conn)

    def _forget_transactional(self, key: int) -> List[List[NewTask]]:
        with self._lock:
            return self._txn_batches.pop(key, [])

    # -- deleting ---------------------------------------------------------------------------------

    @full_disk_as(errors.TransientError)
    def delete(self, queue: str, names: Sequence[str]) -> List[Optional[errors.TaskQueueError]]:
        """Delete tasks by name, leaving tombstones. Per name: None (deleted), UnknownTaskError or
        TombstonedTaskError (which the client reports as was_deleted=False)."""
        validate.queue_for(self.queue_config(), queue)
        now = self.clock()
        with self._write() as conn:
            rows = store.select_tasks(conn, f"queue = ? AND name IN ({','.join('?' * len(names))})",
                                      (queue, *names)) if names else []
            found = {r.name: r for r in rows}
            dead = store.tombstoned_names(conn, queue, names, self._tombstone_cutoff(now, queue))
            store.delete_and_tombstone(conn, [store.key(r) for r in rows], now)
        results: List[Optional[errors.TaskQueueError]] = []
        for name in names:
            if name in found:
                results.append(None)
            elif name in dead:
                results.append(errors.TombstonedTaskError(f"Task {name!r} was already deleted or ran."))
            else:
                results.append(errors.UnknownTaskError(f"No task {name!r} in queue {queue!r}."))
        return results

    def purge(self, queue: str) -> int:
        """Remove every task of a queue (their names stay tombstoned, as with the API purge)."""
        validate.queue_for(self.queue_config(), queue)
        now = self.clock()
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO tq_tombstones (queue, name, created) "
                         "SELECT queue, name, ? FROM tq_tasks WHERE queue = ?", (now, queue))
            removed = conn.execute("DELETE FROM tq_tasks WHERE queue = ?", (queue,)).rowcount
            self.queues.set_state(queue, purge_time=now)
        return removed

    # -- queues (Cloud Tasks' queue methods) --------------------------------------------------------

    def create_queue(self, queue: QueueDef) -> QueueDef:
        validate.queue_name(queue.name)
        return self.queues.create(queue)

    def update_queue(self, queue: QueueDef) -> QueueDef:
        """Replace an API queue's definition (creating it if needed); a rate change applies at once."""
        validate.queue_name(queue.name)
        updated = self.queues.update(queue)
        self.rate_limits.forget(queue.name)
        self.notify()
        return updated

    def delete_queue(self, name: str) -> None:
        """Delete an API queue and its tasks (and its tasks' tombstones: the name may come back)."""
        self.queues.delete(name)
        self.rate_limits.forget(name)
        with self._write() as conn:
            conn.execute("DELETE FROM tq_tasks WHERE queue = ?", (name,))
            conn.execute("DELETE FROM tq_tombstones WHERE queue = ?", (name,))

    def pause_queue(self, name: str) -> QueueDef:
        """A paused queue accepts tasks but dispatches none; running attempts finish."""
        return self.queues.set_state(name, paused=True)

    def resume_queue(self, name: str) -> QueueDef:
        resumed = self.queues.set_state(name, paused=False)
        self.notify()
        return resumed

    def clear_tombstones(self, queue: Optional[str] = None, names: Optional[Sequence[str]] = None) -> None:
        """Forget tombstones: all, a queue's, or some names of a queue (the admin console's
        purge and delete discard them, B6)."""
        with self._write() as conn:
            if queue is None:
                conn.execute("DELETE FROM tq_tombstones")
            elif names is None:
                conn.execute("DELETE FROM tq_tombstones WHERE queue = ?", (queue,))
            else:
                conn.executemany("DELETE FROM tq_tombstones WHERE queue = ? AND name = ?", [(queue, n) for n in names])

    def reset(self) -> None:
        """Forget every task, tombstone and statistic (admin reset, --clear-datastore)."""
        with self._write() as conn:
            conn.execute("DELETE FROM tq_tasks")
            conn.execute("DELETE FROM tq_tombstones")
        with self._lock:
            self._executed.clear()
            self._failures.clear()

    # -- reading ----------------------------------------------------------------------------------

    def get_task(self, queue: str, name: str) -> Optional[TaskRecord]:
        with self.storage.read() as conn:
            rows = store.select_tasks(conn, "queue = ? AND name = ?", (queue, name))
        return rows[0] if rows else None

    def list_tasks(self, queue: str, limit: int = 100, offset: int = 0) -> List[TaskRecord]:
        """Tasks of a queue, earliest eta first."""
        with self.storage.read() as conn:
            return store.select_tasks(conn, "queue = ? ORDER BY eta, name LIMIT ? OFFSET ?", (queue, limit, offset))

    def tombstones(self, queue: str) -> List[Tuple[str, float]]:
        """Live tombstones of a queue: (name, time it became one), oldest first."""
        cutoff = self._tombstone_cutoff(self.clock())
        with self.storage.read() as conn:
            return list(conn.execute(
                "SELECT name, created FROM tq_tombstones WHERE queue = ? AND created >= ? ORDER BY created, name",
                (queue, cutoff)))

    def stats(self) -> Dict[str, QueueStats]:
        """Per queue (configured ones, plus any still holding tasks): counts and recent activity."""
        config = self.queue_config()
        now = self.clock()
        result: Dict[str, QueueStats] = {
            q.name: QueueStats(queue=q.name, mode=q.mode, rate=q.rate, max_concurrent_requests=q.max_concurrent_requests,
                               paused=q.paused, api=q.api)
            for q in config.queues
        }
        with self.storage.read() as conn:
            rows = conn.execute(
                "SELECT queue, MIN(mode), COUNT(*), MIN(CASE WHEN in_flight = 0 THEN eta END), "
                "SUM(in_flight != 0), SUM(in_flight = 0 AND retry_count > 0), SUM(retry_count > 0) "
                "FROM tq_tasks GROUP BY queue").fetchall()
        for queue, mode, count, oldest, in_flight, retrying, failed in rows:
            stats = result.setdefault(queue, QueueStats(queue=queue, mode=mode))
            stats.tasks, stats.oldest_eta, stats.in_flight = count, oldest, int(in_flight or 0)
            stats.retrying = int(retrying or 0)
            stats.failed = int(failed or 0)
        with self._lock:
            for queue, times in self._executed.items():
                while times and times[0] < now - 60:
                    times.popleft()
                if queue in result:
                    result[queue].executed_last_minute = len(times)
            for queue, failures in self._failures.items():
                if queue in result:
                    result[queue].failures = failures
        return result
