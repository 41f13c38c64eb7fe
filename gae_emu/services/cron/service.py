"""The cron service's state: each job's next run, last run and status, and its retries.

`CronService` reads the jobs from a callable (cron.yaml's watcher, so edits are picked up) and keeps,
per job, when it runs next. `due(now)` says which jobs should run; `run(state, execute)` runs one
through the caller's `execute(job) -> HTTP status` (0 = no answer) and reschedules it. The clock is
injectable and can be moved forward (`advance`), so tests need not wait for a minute to pass.

Scheduling, as production's cron service:
- At start (and for a job added by an edit) the next run is the schedule's first time after now:
  runs missed while the server was down are not made up in a burst.
- A plain interval (`every 5 minutes`) counts from the end of the previous run; a range,
  `synchronized` or a specific time counts from the previous scheduled time, never into the past.
- A non-2xx answer is retried per the job's `retry_parameters` (none by default), with Cloud
  Scheduler's defaults for the backoff (5 s doubling up to 5 times, at most 1 hour) and never past
  the next scheduled run, which supersedes the retry.

Imports: the standard library, `gae_emu.config`, `gae_emu.services.cron.schedule`,
`gae_emu.services.taskqueue.retry` (the backoff formula is the task queue's).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from gae_emu.config.cronschedule import IntervalSpec
from gae_emu.config.cronyaml import CronConfig, CronJob, CronRetry
from gae_emu.services.cron.schedule import next_run
from gae_emu.services.taskqueue.retry import RetryPolicy

log = logging.getLogger("gae_emu.cron")

UTC = dt.timezone.utc
# Cloud Scheduler's retry defaults, which App Engine cron jobs now run on.
DEFAULT_MIN_BACKOFF = 5.0
DEFAULT_MAX_BACKOFF = 3600.0
DEFAULT_MAX_DOUBLINGS = 5
Execute = Callable[[CronJob], int]
JobKey = Tuple[str, str, str, Optional[str]]


class UnknownJobError(LookupError):
    """No job of cron.yaml has that url."""


def job_key(job: CronJob) -> JobKey:
    return (job.url, job.schedule, job.timezone, job.target)


def retry_policy(retry: Optional[CronRetry]) -> RetryPolicy:
    r = retry or CronRetry()
    low = DEFAULT_MIN_BACKOFF if r.min_backoff_seconds is None else r.min_backoff_seconds
    high = max(DEFAULT_MAX_BACKOFF, low) if r.max_backoff_seconds is None else r.max_backoff_seconds
    # No retries unless asked for; an age limit alone retries until it is reached.
    limit = r.job_retry_limit if r.job_retry_limit is not None else (None if r.job_age_limit is not None else 0)
    return RetryPolicy(min_backoff=min(low, high), max_backoff=high,
                       max_doublings=DEFAULT_MAX_DOUBLINGS if r.max_doublings is None else r.max_doublings,
                       retry_limit=limit, age_limit=r.job_age_limit)


@dataclass
class JobState:
    job: CronJob
    next_run: Optional[dt.datetime]  # aware, UTC; None: the schedule never runs again
    last_run: Optional[dt.datetime] = None
    last_status: Optional[int] = None
    last_duration: Optional[float] = None  # seconds
    retry_at: Optional[dt.datetime] = None
    retries: int = 0  # retries made for the current occurrence
    first_attempt: Optional[dt.datetime] = None
    running: bool = False
    runs: int = 0


class CronService:
    def __init__(self, config: Callable[[], CronConfig],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)) -> None:
        self._config = config
        self._clock = clock
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()
        self._states: Dict[JobKey, JobState] = {}
        self._jobs: Tuple[CronJob, ...] = ()
        self.changed = threading.Event()  # set when the clock moves or a run ends (wakes the runner)
        self._sync()

    # -- time --------------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> dt.datetime:
        """Move this service's clock forward (tests, and the console's "skip ahead")."""
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)
        self.changed.set()
        return self.now()

    # -- jobs --------------------------------------------------------------------------------------

    def _sync(self) -> None:
        """Follow cron.yaml: new jobs are scheduled from now, removed ones dropped, others kept."""
        jobs = self._config().jobs
        if jobs is self._jobs:
            return
        with self._lock:
            now = self.now()
            states: Dict[JobKey, JobState] = {}
            for job in jobs:
                key = job_key(job)
                if key in states:
                    continue  # the same job twice runs once
                old = self._states.get(key)
                if old is not None:
                    old.job = job
                    states[key] = old
                else:
                    states[key] = JobState(job, next_run(job.spec, job.zone, now))
            self._states, self._jobs = states, jobs

    def states(self) -> List[JobState]:
        self._sync()
        with self._lock:
            return list(self._states.values())

    def find(self, url: str) -> JobState:
        for state in self.states():
            if state.job.url == url:
                return state
        raise UnknownJobError(f"no cron job has the url {url!r}")

    def due(self, now: Optional[dt.datetime] = None) -> List[JobState]:
        now = now or self.now()
        return [s for s in self.states() if not s.running and (_at_or_before(s.retry_at, now)
                                                              or _at_or_before(s.next_run, now))]

    def next_wake(self) -> Optional[dt.datetime]:
        times = [t for s in self.states() for t in (s.next_run, s.retry_at) if t is not None]
        return min(times) if times else None

    # -- running -----------------------------------------------------------------------------------

    def claim(self, state: JobState) -> bool:
        """Mark a job as running; False if it already is (a run is never doubled)."""
        with self._lock:
            if state.running:
                return False
            state.running = True
            return True

    def run(self, state: JobState, execute: Execute, *, scheduled: bool = True, claimed: bool = False) -> int:
        """Run one job now through `execute`; a scheduled run (or retry) is rescheduled after.
        A job already running is not started again (returns 0)."""
        if not claimed and not self.claim(state):
            return 0
        with self._lock:
            started = self.now()
            is_retry = scheduled and _at_or_before(state.retry_at, started) and not _at_or_before(state.next_run, started)
        began = time.perf_counter()
        try:
            status = execute(state.job)
        except Exception:  # a broken delivery is a failed run, never a dead runner
            log.exception("cron %s failed to run", state.job.url)
            status = 0
        duration = time.perf_counter() - began
        with self._lock:
            state.running = False
            state.last_run, state.last_status, state.last_duration = started, status, duration
            state.runs += 1
            if scheduled:
                self._reschedule(state, started, status, is_retry)
        log.info("cron %s%s -> %s in %.0f ms%s", state.job.url,
                 f" ({state.job.description})" if state.job.description else "", status or "no response",
                 duration * 1000, f" (retry {state.retries})" if is_retry else "")
        self.changed.set()
        return status

    def _reschedule(self, state: JobState, started: dt.datetime, status: int, is_retry: bool) -> None:
        now = self.now()
        if not is_retry:
            after = now if isinstance(state.job.spec, IntervalSpec) and state.job.spec.start is None \
                else (state.next_run or now)
            upcoming = next_run(state.job.spec, state.job.zone, after)
            if upcoming is not None and upcoming <= now:  # never a burst of missed runs
                upcoming = next_run(state.job.spec, state.job.zone, now)
            state.next_run = upcoming
            state.retries, state.first_attempt = 0, started
        state.retry_at = None
        if 200 <= status < 300:
            return
        policy = retry_policy(state.job.retry)
        n = state.retries + 1
        age = (now - (state.first_attempt or started)).total_seconds()
        if not policy.can_retry(n, age):
            return
        retry_at = now + dt.timedelta(seconds=policy.backoff(n))
        if state.next_run is not None and retry_at >= state.next_run:
            return  # the next scheduled run comes first and supersedes the retry
        state.retries, state.retry_at = n, retry_at

    def run_due(self, execute: Execute, now: Optional[dt.datetime] = None) -> int:
        """Run every due job on this thread (tests); returns how many ran."""
        ran = 0
        for state in self.due(now):
            self.run(state, execute)
            ran += 1
        return ran

    def run_now(self, url: str, execute: Execute) -> int:
        """Run a job at once (the console's Run now, the test API); its schedule is unchanged."""
        return self.run(self.find(url), execute, scheduled=False)


def _at_or_before(when: Optional[dt.datetime], now: dt.datetime) -> bool:
    return when is not None and when <= now


class CronRunner:
    """The thread that runs due jobs while the server serves; each run on a thread of its own, so
    a slow job does not hold the others."""

    def __init__(self, service: CronService, execute: Execute, *, poll: float = 1.0) -> None:
        self.service, self.execute, self.poll = service, execute, poll
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gae-emu-cron", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.service.changed.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.service.changed.clear()
            try:
                for state in self.service.due():
                    if self.service.claim(state):
                        threading.Thread(target=self.service.run, args=(state, self.execute),
                                         kwargs={"claimed": True}, name=f"gae-emu-cron {state.job.url}",
                                         daemon=True).start()
            except Exception:
                log.exception("cron runner step failed")
            wake = self.service.next_wake()
            wait = self.poll
            if wake is not None:
                wait = max(0.01, min(self.poll, (wake - self.service.now()).total_seconds()))
            self.service.changed.wait(wait)
