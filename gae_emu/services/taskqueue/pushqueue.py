"""Dispatch primitives of push queues, mixed into `TaskQueueService`: claim due tasks in batches,
record attempt outcomes in batches (success, retry with B7 backoff, or give up), and `run_due`,
the deterministic step tests drive on their own thread.

Throughput comes from batching: one UPDATE claims a batch (per-queue limits inside the statement),
one transaction records a batch of outcomes with executemany.

Imports: the standard library, `gae_emu.storage`, `gae_emu.config.models` and this package's
`models`, `retry`, `store`.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from gae_emu.config.models import QueueConfig, QueueDef
from gae_emu.storage import Storage

from . import errors, retry, store
from .models import DEFAULT_MAX_CONCURRENT_REQUESTS, TaskRecord
from .ratelimit import TokenBuckets

log = logging.getLogger("gae_emu.taskqueue")

DEFAULT_CLAIM_BATCH = 500


def _counts_as_execution(record: TaskRecord, status: int) -> int:
    """1 when a failed attempt counts in the execution count, as production counts it: an App
    Engine target's every answer (503 included) but no answer at all (no instance, deadline); an
    HTTP target's answers other than 5xx."""
    if status == 0:
        return 0
    if record.http is not None and 500 <= status < 600:
        return 0
    return 1


class PushQueueOps:
    """Push dispatch operations; relies on TaskQueueService's storage, config, clock and counters."""

    storage: Storage
    queue_config: Callable[[], QueueConfig]
    clock: Callable[[], float]
    notify: Callable[[], None]
    _lock: threading.Lock
    _claims: Iterator[int]
    _executed: Dict[str, Deque[float]]
    _failures: Dict[str, int]
    rate_limits: TokenBuckets
    enforce_rates: bool  # --enforce-queue-rates: queue.yaml rates too (API queues' always apply)

    def _push_queues(self) -> Dict[str, QueueDef]:
        return {q.name: q for q in self.queue_config().queues if q.mode != "pull"}

    def _dispatchable(self) -> Dict[str, QueueDef]:
        """Push queues that are not paused."""
        return {q.name: q for q in self.queue_config().queues if q.mode != "pull" and not q.paused}

    def _rated(self, queue: QueueDef) -> bool:
        return self.enforce_rates or queue.api

    def claim_due(self, now: float, limit: int = DEFAULT_CLAIM_BATCH, *, ignore_concurrency: bool = False) -> List[TaskRecord]:
        """Mark in flight and return up to `limit` push tasks with eta <= now, earliest first,
        keeping each queue within its max_concurrent_requests (default
        DEFAULT_MAX_CONCURRENT_REQUESTS) unless `ignore_concurrency` (a caller running serially)."""
        queues = self._dispatchable()
        if not queues:
            return []
        with self.storage.transaction() as conn:
            if ignore_concurrency:
                slots = [(name, limit) for name in queues]
            else:
                running = store.in_flight_counts(conn, list(queues))
                slots = [(name, (q.max_concurrent_requests or DEFAULT_MAX_CONCURRENT_REQUESTS) - running.get(name, 0))
                         for name, q in queues.items()]
            slots = [(name, self._rate_room(queues[name], room, now)) for name, room in slots]
            claimed = store.claim(conn, slots, now, next(self._claims), limit)
        for name in {r.queue for r in claimed}:
            if self._rated(queues[name]):
                self.rate_limits.take(queues[name], sum(1 for r in claimed if r.queue == name), now)
        return claimed

    def _rate_room(self, queue: QueueDef, room: int, now: float) -> int:
        if not self._rated(queue):
            return room
        tokens = self.rate_limits.available(queue, now)
        return room if tokens is None else min(room, tokens)

    def next_rate_token(self, now: float) -> Optional[float]:
        """The earliest time a rate-limited queue may dispatch again (None: none is limited)."""
        times = [self.rate_limits.next_token_at(q, now) for q in self._dispatchable().values() if self._rated(q)]
        later = [t for t in times if t is not None and t > now]
        return min(later) if later else None

    def release(self, records: Sequence[TaskRecord]) -> None:
        """Return claimed tasks that never ran to the queue, unchanged."""
        if records:
            with self.storage.transaction() as conn:
                store.release(conn, [store.key(r) for r in records])

    def complete(self, results: Sequence[Tuple[TaskRecord, int]], now: float) -> None:
        """Record attempt outcomes: 2xx deletes the task and leaves a tombstone; anything else
        schedules a retry at now + backoff (B7), or drops the task when its limits are exhausted."""
        if not results:
            return
        queues = self._push_queues()
        done: List[Tuple[str, str, float]] = []
        dropped: List[Tuple[str, str, float]] = []
        retries: List[tuple] = []
        for record, status in results:
            if 200 <= status < 300:
                done.append(store.key(record))
                continue
            queue = queues.get(record.queue)
            policy = retry.resolve(record.retry, queue.retry_parameters if queue else None)
            n = record.retry_count + 1
            first_try = record.first_try if record.first_try is not None else now
            if policy.can_retry(n, now - first_try):
                next_eta = now + policy.backoff(n)
                retries.append((next_eta, status, first_try, _counts_as_execution(record, status),
                                *store.key(record)))
                log.info("%s; attempt %d failed, next at %s (in %.1f s)", _attempt_line(record, status), n,
                         time.strftime("%H:%M:%S", time.localtime(next_eta)), max(0.0, next_eta - now))
            else:
                log.warning("%s; attempt %d failed, giving up (the retry limits are spent)",
                            _attempt_line(record, status), n)
                dropped.append(store.key(record))
        with self.storage.transaction() as conn:
            store.delete_and_tombstone(conn, done + dropped, now)
            conn.executemany(
                "UPDATE tq_tasks SET eta = ?, last_response = ?, first_try = ?, retry_count = retry_count + 1, "
                f"execution_count = execution_count + ?, in_flight = 0 WHERE {store.KEY_WHERE}", retries)
        with self._lock:
            for record, _ in results:
                self._executed[record.queue].append(now)
            for queue_name, _, _ in dropped:
                self._failures[queue_name] += 1

    def complete_and_claim(self, results: Sequence[Tuple[TaskRecord, int]], now: float,
                           limit: int = DEFAULT_CLAIM_BATCH) -> List[TaskRecord]:
        """`complete(results)` and `claim_due(now, limit)` in one transaction: the dispatcher's
        cycle costs one write, not two."""
        with self.storage.transaction():
            self.complete(results, now)
            return self.claim_due(now, limit) if limit > 0 else []

    def run_due(self, now: Optional[float] = None, execute: Optional[Callable[[TaskRecord], int]] = None) -> int:
        """Run every push task due at `now` (default: the clock) once, on this thread, through
        `execute(record) -> HTTP status` (an exception counts as status 0). Returns how many ran.
        A task retried with zero backoff is not run twice in one call."""
        if execute is None:
            raise TypeError("run_due needs execute(record) -> status")
        now = self.clock() if now is None else now
        ran: set = set()
        count = 0
        while True:
            batch = self.claim_due(now, DEFAULT_CLAIM_BATCH, ignore_concurrency=True)
            fresh = [r for r in batch if (r.queue, r.name) not in ran]
            self.release([r for r in batch if (r.queue, r.name) in ran])
            if not fresh:
                return count
            outcomes = []
            for record in fresh:
                try:
                    status = int(execute(record))
                except Exception:  # the handler's failure is the task's, never the caller's
                    log.exception("Task %s of queue %s raised", record.name, record.queue)
                    status = 0
                outcomes.append((record, status))
                ran.add((record.queue, record.name))
            self.complete(outcomes, now)
            count += len(fresh)

    def claim_task(self, queue: str, name: str) -> TaskRecord:
        """Mark one waiting push task in flight, whatever its eta, and return it: the admin
        console's "Run now", which runs it on the caller's thread and then `complete()`s it."""
        with self.storage.transaction() as conn:
            rows = store.select_tasks(conn, "queue = ? AND name = ?", (queue, name))
            if not rows:
                raise errors.UnknownTaskError(f"No task {name!r} in queue {queue!r}.")
            task = rows[0]
            if task.mode == "pull":
                raise errors.InvalidQueueModeError(f"Task {name!r} is in a pull queue; pull tasks are leased, not run.")
            if task.in_flight:
                raise errors.TaskLeaseExpiredError(f"Task {name!r} is running already.")
            conn.execute(f"UPDATE tq_tasks SET in_flight = ?, first_try = COALESCE(first_try, ?) WHERE {store.KEY_WHERE}",
                         (next(self._claims), self.clock(), *store.key(task)))
            return store.select_tasks(conn, store.KEY_WHERE, store.key(task))[0]

    def next_eta(self) -> Optional[float]:
        """Earliest eta of a push task not in flight, or None when no push task waits."""
        with self.storage.read() as conn:
            return store.earliest_eta(conn, list(self._dispatchable()))


def _attempt_line(record: TaskRecord, status: int) -> str:
    """The deliverer's line for this attempt, or the bare facts when it wrote none."""
    return record.attempt_line or f"task {record.queue}/{record.name} {status or 'no answer'}"
