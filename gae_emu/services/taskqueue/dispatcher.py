"""`Dispatcher`: threads that run due push tasks through `execute(record) -> HTTP status`.

One scheduler thread commits outcomes and claims due tasks in one transaction per cycle (per-queue
max_concurrent_requests is enforced by the claim), and a pool of worker threads runs them. It
sleeps until the next eta, a completion, or `notify()` (the service calls it on every add): there
is no polling tick, so a task with a countdown starts within a few milliseconds of its eta. While
tasks stream in, claims are at most one per `claim_gap`, so the app's adds (each a write
transaction) do not alternate one for one with the scheduler's.

Workers wake as they are needed, not one per task: one worker runs claimed tasks back to back, and
another is woken only when every running task has taken longer than `slow_after` (it is waiting
on I/O, so another thread can make progress). Fast handlers thus run on one thread with no
hand-off per task, while slow ones get up to `max_workers` threads.

Hung handlers: an attempt running longer than its deadline (the task's dispatch_deadline, else
`deadline`) counts as failed (status 0) and is retried per B7; its thread is abandoned, not awaited.
A worker busy longer than `stall_after` seconds is replaced by a fresh one, so slow or hung
handlers of one queue (bounded by its max_concurrent_requests) never starve the other queues.
`idle_recheck` is a safety net for tasks that become visible without a notify (another process,
a transaction that was still open when it notified).

Imports: the standard library and this package's `models` (and, by duck typing, the service).
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from gae_emu.storage import StorageFullError

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
    """Runs due push tasks of `service` on up to `max_workers` threads via `execute(record) -> status`."""

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
        claim_gap: float = 0.001,
        slow_after: float = 0.005,
    ) -> None:
        self.service = service
        self.execute = execute
        self.max_workers = max(1, max_workers)
        self.clock = clock
        self.deadline = deadline
        self.stall_after = stall_after
        self.idle_recheck = idle_recheck
        self.claim_gap = claim_gap
        self.slow_after = slow_after
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the scheduler sleeps on this one
        self._work = threading.Condition(lock)  # idle workers sleep on this one (same lock)
        self._wakeup = False  # something changed since the scheduler last looked
        self._sleeping = False  # the scheduler waits for a poke (not napping between claims)
        self._stopping = False
        self._paused = False
        self._pending: Deque[_Job] = collections.deque()  # claimed, not started yet
        self._idle_workers = 0
        self._waking = 0  # workers woken for a job that have not taken one yet
        self._running: Dict[int, _Job] = {}
        self._done: List[Tuple[TaskRecord, int]] = []
        self._retired: set = set()  # stalled worker threads that must exit when their job ends
        self._workers: List[threading.Thread] = []
        self._scheduler: Optional[threading.Thread] = None
        self._ids = itertools.count(1)
        self._last_claim = float("-inf")  # time.monotonic() of the last claim
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
        with self._cond:
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
        with self._cond:
            unstarted = [job.record for job in self._pending]
            self._pending.clear()
            self._work.notify_all()
            workers = list(self._workers)
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))  # a hung handler keeps its thread; not awaited
        with self._cond:
            self._workers = []
            done, self._done = self._done, []
        self.service.complete(done, self.clock())
        self.service.release(unstarted)

    def notify(self) -> None:
        """Something may have become due (an add, a "run now", an unpause): look again."""
        with self._cond:
            if self._idle.is_set():
                self._idle.clear()
            if self._paused:
                return
            if self._pending:
                # Workers still hold unstarted jobs and wake the scheduler as they run low, so it
                # will look soon anyway: let adds gather into one claim instead of one each.
                self._wakeup = True
                return
            self._poke()

    def _job(self, record: TaskRecord) -> _Job:
        return _Job(next(self._ids), record, record.dispatch_deadline or self.deadline)

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no task is due, queued to a worker or running; False on timeout."""
        return self._idle.wait(timeout)

    # -- workers ----------------------------------------------------------------------------------

    def _spawn_worker(self) -> None:
        """Start a worker (callers hold the lock)."""
        worker = threading.Thread(target=self._run_worker, name="gae-emu-taskqueue-worker", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _run_worker(self) -> None:
        with self._cond:
            self._work_loop(threading.current_thread())

    def _work_loop(self, me: threading.Thread) -> None:
        """Take jobs until stopped or retired; called and returning with the lock held."""
        while True:
            while not self._pending:
                if self._stopping or me in self._retired:
                    self._retired.discard(me)
                    return
                self._idle_workers += 1
                self._work.wait()
                self._idle_workers -= 1
                if self._waking:
                    self._waking -= 1
            job = self._pending.popleft()
            job.started, job.thread = self.clock(), me
            self._running[job.id] = job
            self._cond.release()
            try:
                status = int(self.execute(job.record))
            except Exception:  # a handler's failure is the task's failure, never the dispatcher's
                log.exception("Task %s of queue %s raised", job.record.name, job.record.queue)
                status = 0
            finally:
                self._cond.acquire()
            self._running.pop(job.id, None)
            if not job.abandoned:
                self._done.append((job.record, status))
            # Wake the scheduler only when the backlog runs low, so it commits outcomes and
            # claims replacements in batches rather than one transaction per task.
            if len(self._pending) < self.max_workers or not self._running:
                self._poke()
            if me in self._retired:
                self._retired.discard(me)
                return

    def _wake_workers(self, now: float) -> Optional[float]:
        """Wake an idle worker for pending jobs when no worker will take them soon: none is on
        its way and every running job is older than slow_after (callers hold the lock). Returns
        when to look again while jobs are pending (a job may turn slow by then), or None."""
        if not self._pending:
            return None
        young = [j.started for j in self._running.values()
                 if j.started is not None and not j.abandoned and now - j.started < self.slow_after]
        if young:
            return min(young) + self.slow_after
        if not self._idle_workers:
            return None  # every worker is busy: a completion or the stall check frees one
        if not self._waking:
            self._waking += 1
            self._work.notify()
        return now + self.slow_after  # by then the woken worker's job may be slow too

    # -- the scheduler ----------------------------------------------------------------------------

    def _poke(self) -> None:
        """Ask the scheduler to look again (callers hold the lock); it is woken only when it
        sleeps, so pokes while it works or naps between claims cost nothing."""
        self._wakeup = True
        if self._sleeping:
            self._sleeping = False
            self._cond.notify()

    def _schedule(self) -> None:
        disk_full = False
        while True:
            try:
                if self._cycle():
                    return
                if disk_full:
                    disk_full = False
                    log.warning("Task dispatcher: the disk has space again; dispatching resumed")
                continue
            except StorageFullError as exc:  # said once; outcomes stay in memory and are retried
                if not disk_full:
                    log.error("Task dispatcher paused: %s (it resumes when there is space)", exc)
                disk_full = True
            except Exception:  # keep dispatching whatever one cycle hit (e.g. a locked database)
                log.exception("Task dispatcher cycle failed")
            with self._cond:
                self._cond.wait(self.idle_recheck)

    def _cycle(self) -> bool:
        """One round: time out, commit outcomes and claim, then sleep. True when stopping."""
        with self._cond:
            if self._stopping:
                return True
            nap = self._last_claim + self.claim_gap - time.monotonic()
            if nap > 0 and not self._paused:
                self._cond.wait(nap)  # only stop() wakes a nap
                if self._stopping:
                    return True
            self._wakeup = False
        now = self.clock()
        wake_at = now + self.idle_recheck
        with self._cond:
            wake_at = min(wake_at, self._check_running(now))
            done, self._done = self._done, []
            live = sum(1 for j in self._running.values() if not j.abandoned)
            backlog = len(self._pending)
        claimed: List[TaskRecord] = []
        next_eta: Optional[float] = None
        try:
            if self._paused:
                if done:
                    self.service.complete(done, now)
            else:
                room = self.max_workers * 4 - backlog
                if done or room > 0:
                    claimed = self.service.complete_and_claim(done, now, max(room, 0))
                    self._last_claim = time.monotonic()
        except StorageFullError:
            with self._cond:  # the outcomes were not written: keep them for the next cycle
                self._done[:0] = done
            raise
        if claimed:
            with self._cond:
                self._pending.extend(self._job(r) for r in claimed)
        # A cycle that did work looks again at once, so when to wake (the earliest eta, a rate
        # token) is asked only before sleeping: a read per cycle held the storage lock the app's
        # adds wait for.
        if not self._paused and not (claimed or done):
            next_eta = self.service.next_eta()
            if next_eta is not None and next_eta > now:
                wake_at = min(wake_at, next_eta)
            token_at = self.service.next_rate_token(now)  # a rate-limited queue refills
            if token_at is not None and next_eta is not None and next_eta <= now:
                wake_at = min(wake_at, token_at)
            # A due task left unclaimed waits for a completion (its queue or the pool is full).
        with self._cond:
            recheck = self._wake_workers(self.clock())
            if recheck is not None:
                wake_at = min(wake_at, recheck)
            due_waiting = not self._paused and next_eta is not None and next_eta <= now
            if claimed or done or backlog or live or self._done or due_waiting or self._wakeup:
                self._idle.clear()  # e.g. a countdown came due without any notify()
            else:
                self._idle.set()
            if claimed or done or self._wakeup or self._stopping:  # work done: look again at once
                return self._stopping
            self._sleeping = True
            self._cond.wait(max(0.0, wake_at - self.clock()))
            self._sleeping = False
        return False

    def _check_running(self, now: float) -> float:
        """Time out attempts past their deadline and replace stalled workers (callers hold the
        lock); returns when the next such check is due."""
        wake_at = float("inf")
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
        return wake_at
