"""`Dispatcher`: threads that run due push tasks through `execute(record) -> HTTP status`.

One scheduler thread claims due tasks in batches (per-queue max_concurrent_requests is enforced by
the claim), hands them to a small pool of worker threads, and records outcomes in batches. It
sleeps until the next eta, a completion, or `notify()` (the service calls it on every add): there is
no polling tick, so a task with a countdown starts within a few milliseconds of its eta.

Hung handlers: an attempt running longer than its deadline (the task's dispatch_deadline, else
`deadline`) counts as failed (status 0) and is retried per B7; its thread is abandoned, not awaited.
A worker busy longer than `stall_after` seconds is replaced by a fresh one, so slow or hung
handlers of one queue (bounded by its max_concurrent_requests) never starve the other queues.
`idle_recheck` is a safety net for tasks that become visible without a notify (another process,
a transaction that was still open when it notified).

Imports: the standard library and this package's `models` (and, by duck typing, the service).
"""
from __future__ import annotations

import itertools
import logging
import queue as queue_mod
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from .models import TaskRecord

log = logging.getLogger("gae_emu.taskqueue")

TIMEOUT_STATUS = 0  # an attempt that exceeded its deadline got no HTTP answer


@dataclass
class _Job:
    id: int
    record: TaskRecord
    deadline: float  # seconds allowed
    started: Optional[float] = None
    thread: Optional[threading.Thread] = None
    abandoned: bool = False


class Dispatcher:
    """Runs due push tasks of `service` on `max_workers` threads via `execute(record) -> status`."""

    def __init__(
        self,
        service: Any,
        execute: Callable[[TaskRecord], int],
        *,
        max_workers: int = 4,
        clock: Callable[[], float] = time.time,
        deadline: float = 600.0,
        stall_after: float = 5.0,
        idle_recheck: float = 1.0,
    ) -> None:
        self.service = service
        self.execute = execute
        self.max_workers = max(1, max_workers)
        self.clock = clock
        self.deadline = deadline
        self.stall_after = stall_after
        self.idle_recheck = idle_recheck
        self._cond = threading.Condition()
        self._wakeup = False
        self._stopping = False
        self._paused = False
        self._jobs: "queue_mod.Queue[Optional[_Job]]" = queue_mod.Queue()
        self._queued = 0  # jobs handed to workers and not started yet
        self._running: Dict[int, _Job] = {}
        self._done: List[Tuple[TaskRecord, int]] = []
        self._retired: set = set()  # stalled worker threads that must exit when their job ends
        self._workers: List[threading.Thread] = []
        self._scheduler: Optional[threading.Thread] = None
        self._ids = itertools.count(1)
        # Set when nothing is due, queued or running; its own Event so waiting callers are not
        # woken by every completion.
        self._idle = threading.Event()

    # -- control ----------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        """When paused (--no-enable-task-running) tasks accumulate; running ones finish."""
        self._paused = bool(value)
        self.notify()

    def start(self) -> None:
        if self._scheduler is not None:
            return
        self._stopping = False
        for _ in range(self.max_workers):
            self._spawn_worker()
        self._scheduler = threading.Thread(target=self._schedule, name="gae-emu-taskqueue-scheduler", daemon=True)
        self._scheduler.start()
        self.service.add_listener(self.notify)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop dispatching; tasks handed out but not started go back to their queue untouched."""
        if self._scheduler is None:
            return
        self.service.remove_listener(self.notify)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._scheduler.join(timeout)
        self._scheduler = None
        unstarted: List[TaskRecord] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue_mod.Empty:
                break
            if job is not None:
                unstarted.append(job.record)
        for _ in self._workers:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))  # a hung handler keeps its thread; not awaited
        self._workers = []
        with self._cond:
            done, self._done = self._done, []
            self._queued = 0
        self.service.complete(done, self.clock())
        self.service.release(unstarted)

    def notify(self) -> None:
        """Something may have become due (an add, a "run now", an unpause): look again."""
        with self._cond:
            self._idle.clear()
            if self._wakeup or self._paused:  # it has not looked yet (or has nothing to claim)
                return
            self._wakeup = True
            if self._queued:
                # Workers still hold unstarted jobs and wake the scheduler as they run low, so it
                # will look soon anyway: let adds gather into one claim instead of one each.
                return
            self._cond.notify_all()

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no task is due, queued to a worker or running; False on timeout."""
        return self._idle.wait(timeout)

    # -- threads ----------------------------------------------------------------------------------

    def _spawn_worker(self) -> None:
        worker = threading.Thread(target=self._work, name="gae-emu-taskqueue-worker", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._cond:
                self._queued -= 1
                job.started, job.thread = self.clock(), me
                self._running[job.id] = job
            try:
                status = int(self.execute(job.record))
            except Exception:  # a handler's failure is the task's failure, never the dispatcher's
                log.exception("Task %s of queue %s raised", job.record.name, job.record.queue)
                status = 0
            with self._cond:
                self._running.pop(job.id, None)
                if not job.abandoned:
                    self._done.append((job.record, status))
                # Wake the scheduler only when the backlog runs low, so it commits outcomes and
                # claims replacements in batches rather than one transaction per task.
                if self._queued < self.max_workers or not self._running:
                    self._wakeup = True
                    self._cond.notify_all()
                if me in self._retired:
                    self._retired.discard(me)
                    return

    def _schedule(self) -> None:
        while True:
            try:
                if self._cycle():
                    return
            except Exception:  # keep dispatching whatever one cycle hit (e.g. a locked database)
                log.exception("Task dispatcher cycle failed")
                with self._cond:
                    self._cond.wait(self.idle_recheck)

    def _cycle(self) -> bool:
        """One round: time out, commit outcomes, claim, then sleep. True when stopping."""
        now = self.clock()
        wake_at = now + self.idle_recheck
        with self._cond:
            if self._stopping:
                return True
            self._wakeup = False
            for job in self._running.values():
                if job.started is None:
                    continue
                if not job.abandoned and now - job.started >= job.deadline:
                    log.warning("Task %s of queue %s exceeded its %.0f s deadline", job.record.name,
                                job.record.queue, job.deadline)
                    job.abandoned = True
                    self._done.append((job.record, TIMEOUT_STATUS))
                if job.thread is not None and job.thread not in self._retired:
                    # An abandoned attempt's thread is replaced at once: otherwise a queue whose
                    # handlers hang holds every worker until stall_after and blocks other queues.
                    if job.abandoned or now - job.started >= self.stall_after:
                        self._retired.add(job.thread)
                        self._workers.remove(job.thread)
                        self._spawn_worker()
                    else:
                        wake_at = min(wake_at, job.started + self.stall_after)
                if not job.abandoned:
                    wake_at = min(wake_at, job.started + job.deadline)
            done, self._done = self._done, []
            live = sum(1 for j in self._running.values() if not j.abandoned)
            backlog = self._queued
        if done:
            self.service.complete(done, now)
        claimed: List[TaskRecord] = []
        next_eta: Optional[float] = None
        if not self._paused:
            room = self.max_workers * 4 - backlog
            claimed = self.service.claim_due(now, room) if room > 0 else []
            for record in claimed:
                with self._cond:
                    self._queued += 1
                self._jobs.put(_Job(next(self._ids), record, record.dispatch_deadline or self.deadline))
            next_eta = self.service.next_eta()
            if next_eta is not None and next_eta > now:
                wake_at = min(wake_at, next_eta)
            token_at = self.service.next_rate_token(now)  # a rate-limited queue refills
            if token_at is not None and next_eta is not None and next_eta <= now:
                wake_at = min(wake_at, token_at)
            # A due task left unclaimed waits for a completion (its queue or the pool is full).
        with self._cond:
            due_waiting = not self._paused and next_eta is not None and next_eta <= now
            if claimed or done or backlog or live or self._done or due_waiting or self._wakeup:
                self._idle.clear()  # e.g. a countdown came due without any notify()
            else:
                self._idle.set()
            if claimed or done or self._wakeup or self._stopping:  # work done: look again at once
                return self._stopping
            self._cond.wait(max(0.0, wake_at - self.clock()))
        return False
