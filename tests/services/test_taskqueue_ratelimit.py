"""--enforce-queue-rates: token buckets limit claims to `rate` per second with `bucket_size` bursts."""
from __future__ import annotations

import pytest

from gae_emu.config.models import QueueConfig, QueueDef
from gae_emu.services.taskqueue import NewTask, TaskQueueService
from gae_emu.services.taskqueue.ratelimit import TokenBuckets
from gae_emu.storage import Storage

T0 = 1_700_000_000.0
QUEUES = QueueConfig(queues=(
    QueueDef(name="default"),  # no rate: unlimited
    QueueDef(name="slow", rate="2/s", rate_per_second=2.0, bucket_size=3),
    QueueDef(name="paused", rate="0", rate_per_second=0.0, bucket_size=1),
))


class Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    clock = Clock()

    def make(enforce: bool) -> TaskQueueService:
        return TaskQueueService(storage, lambda: QUEUES, clock=clock, enforce_rates=enforce)

    yield make, clock
    storage.close()


def test_bucket_bursts_then_refills_at_rate(make):
    make_service, clock = make
    svc = make_service(True)
    svc.add([NewTask(queue="slow") for _ in range(10)])
    assert svc.run_due(clock.now, lambda r: 200) == 3  # a full bucket of 3 runs at once
    assert svc.stats()["slow"].tasks == 7
    assert svc.next_rate_token(clock.now) == pytest.approx(clock.now + 0.5)
    clock.now += 1.0  # two more tokens
    assert svc.run_due(clock.now, lambda r: 200) == 2
    clock.now += 100  # the bucket never holds more than bucket_size
    assert svc.run_due(clock.now, lambda r: 200) == 3


def test_rate_zero_pauses_and_unlimited_queues_run_freely(make):
    make_service, clock = make
    svc = make_service(True)
    svc.add([NewTask(queue="paused")])
    svc.add([NewTask(queue="default") for _ in range(20)])
    assert svc.run_due(clock.now, lambda r: 200) == 20
    clock.now += 1000
    assert svc.run_due(clock.now, lambda r: 200) == 0
    assert svc.stats()["paused"].tasks == 1


def test_rates_are_ignored_unless_enforced(make):
    make_service, clock = make
    svc = make_service(False)
    svc.add([NewTask(queue="slow") for _ in range(10)])
    assert svc.run_due(clock.now, lambda r: 200) == 10
    assert svc.next_rate_token(clock.now) is None


def test_token_bucket_alone():
    buckets = TokenBuckets()
    queue = QueueDef(name="q", rate="1/s", rate_per_second=1.0, bucket_size=2)
    assert buckets.available(queue, 0.0) == 2
    buckets.take(queue, 2, 0.0)
    assert buckets.available(queue, 0.5) == 0
    assert buckets.next_token_at(queue, 0.5) == pytest.approx(1.0)
    assert buckets.available(queue, 1.0) == 1
    assert buckets.available(QueueDef(name="free"), 0.0) is None
