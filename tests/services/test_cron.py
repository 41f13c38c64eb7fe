"""The cron service, in-process and deterministic: a clock the test moves, an `execute` it records."""
from __future__ import annotations

import datetime as dt
from typing import List

from gae_emu.config.cronschedule import parse_schedule
from gae_emu.config.cronyaml import CronConfig, CronJob, CronRetry
from gae_emu.services.cron.service import CronService, retry_policy

UTC = dt.timezone.utc
START = dt.datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


def job(url: str = "/tasks/tick", schedule: str = "every 1 minutes", **kwargs) -> CronJob:
    return CronJob(url=url, schedule=schedule, spec=parse_schedule(schedule), **kwargs)


class Recorder:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: List[str] = []

    def __call__(self, job: CronJob) -> int:
        self.calls.append(job.url)
        return self.statuses.pop(0) if self.statuses else 200


def service(*jobs: CronJob) -> CronService:
    config = CronConfig(jobs=tuple(jobs))
    return CronService(lambda: config, clock=lambda: START)


def test_an_interval_job_runs_when_due_and_only_then():
    cron = service(job())
    run = Recorder()
    # The parser's interval arithmetic: now + 1 minute, rounded down to the minute.
    assert cron.states()[0].next_run == dt.datetime(2026, 3, 2, 12, 1, tzinfo=UTC)
    assert cron.run_due(run) == 0
    cron.advance(29)
    assert cron.run_due(run) == 0
    cron.advance(1)
    assert cron.run_due(run) == 1 and run.calls == ["/tasks/tick"]
    state = cron.states()[0]
    assert (state.last_status, state.last_run) == (200, dt.datetime(2026, 3, 2, 12, 1, tzinfo=UTC))
    assert state.next_run == dt.datetime(2026, 3, 2, 12, 2, tzinfo=UTC)


def test_missed_runs_are_not_made_up_in_a_burst():
    cron = service(job())
    run = Recorder()
    cron.advance(600)
    assert cron.run_due(run) == 1
    assert cron.run_due(run) == 0
    assert cron.states()[0].next_run > cron.now()


def test_a_specific_time_is_kept_in_its_time_zone():
    cron = service(job(schedule="every day 09:00", timezone="America/New_York"))
    assert cron.states()[0].next_run == dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    run = Recorder()
    cron.advance((dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC) - START).total_seconds())
    assert cron.run_due(run) == 1
    assert cron.states()[0].next_run == dt.datetime(2026, 3, 3, 14, 0, tzinfo=UTC)


def test_no_retries_by_default():
    cron = service(job())
    run = Recorder(500)
    cron.advance(60)
    cron.run_due(run)
    state = cron.states()[0]
    assert state.last_status == 500 and state.retry_at is None


def test_a_failing_job_is_retried_per_its_parameters():
    cron = service(job(schedule="every 1 hours", retry=CronRetry(job_retry_limit=2, min_backoff_seconds=10)))
    run = Recorder(500, 503, 500)
    cron.advance(3600)
    cron.run_due(run)
    state = cron.states()[0]
    assert state.retry_at == cron.now() + dt.timedelta(seconds=10) and state.retries == 1
    cron.advance(9)
    assert cron.run_due(run) == 0
    cron.advance(1)
    assert cron.run_due(run) == 1
    assert state.retries == 2 and state.retry_at == cron.now() + dt.timedelta(seconds=20)  # doubled
    cron.advance(20)
    assert cron.run_due(run) == 1
    assert state.retry_at is None and len(run.calls) == 3  # two retries, then it gives up
    assert state.next_run == dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_a_retry_is_superseded_by_the_next_scheduled_run():
    cron = service(job(retry=CronRetry(job_retry_limit=5, min_backoff_seconds=120)))
    cron.advance(60)
    cron.run_due(Recorder(500))
    assert cron.states()[0].retry_at is None


def test_retry_defaults_are_cloud_schedulers():
    policy = retry_policy(CronRetry(job_retry_limit=5))
    assert [policy.backoff(n) for n in range(1, 8)] == [5, 10, 20, 40, 80, 160, 320]
    assert retry_policy(None).retry_limit == 0
    assert retry_policy(CronRetry(job_age_limit=60)).retry_limit is None


def test_run_now_leaves_the_schedule_alone():
    cron = service(job())
    before = cron.states()[0].next_run
    run = Recorder(404)
    assert cron.run_now("/tasks/tick", run) == 404
    state = cron.states()[0]
    assert state.next_run == before and state.last_status == 404 and state.retry_at is None


def test_edits_to_cron_yaml_are_followed():
    jobs = [job("/a")]
    cron = CronService(lambda: CronConfig(jobs=tuple(jobs)), clock=lambda: START)
    cron.advance(60)
    cron.run_due(Recorder())
    a_state = cron.find("/a")
    jobs[:] = [job("/a"), job("/b", "every 5 minutes")]
    assert [s.job.url for s in cron.states()] == ["/a", "/b"]
    assert cron.find("/a") is a_state and a_state.runs == 1  # kept, with its history
    assert cron.find("/b").next_run == cron.now() + dt.timedelta(minutes=5) - dt.timedelta(seconds=30)
    jobs[:] = [job("/b", "every 5 minutes")]
    assert [s.job.url for s in cron.states()] == ["/b"]
