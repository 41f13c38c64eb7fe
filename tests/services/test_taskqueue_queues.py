"""Queues created through the Cloud Tasks API and every queue's run state (QueueRegistry, through
TaskQueueService): merged with queue.yaml, persisted, paused, rate-limited, names held after delete."""
from __future__ import annotations

import pytest

from gae_emu.config.models import QueueConfig, QueueDef, RetryParameters
from gae_emu.services.taskqueue import NewTask, TaskQueueService, errors
from gae_emu.storage import Storage

T0 = 1_700_000_000.0
YAML = QueueConfig(queues=(QueueDef(name="default"), QueueDef(name="fromyaml", rate="1/s", rate_per_second=1.0, bucket_size=1)))


class Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(tmp_path):
    clock = Clock()
    opened = []

    def make() -> TaskQueueService:
        if opened:
            opened[-1].close()
        opened.append(Storage(tmp_path / "db.sqlite3"))
        return TaskQueueService(opened[-1], lambda: YAML, clock=clock)

    yield make, clock
    opened[-1].close()


def names(svc):
    return [q.name for q in svc.queue_config().queues]


def test_api_queues_follow_queue_yaml_and_survive_a_restart(env):
    make, clock = env
    svc = make()
    retry = RetryParameters(task_retry_limit=4, min_backoff_seconds=2.0)
    created = svc.create_queue(QueueDef(name="api-1", rate="10/s", rate_per_second=10.0, bucket_size=2,
                                        max_concurrent_requests=7, target="worker", retry_parameters=retry))
    assert created.api and not created.paused and created.retry_parameters == retry
    assert names(svc) == ["default", "fromyaml", "api-1"]
    svc.add([NewTask(queue="api-1", name="t1", eta=T0 + 60)])
    svc.pause_queue("api-1")
    again = make()
    queue = again.queue_config().get("api-1")
    assert queue is not None and queue.paused and queue.max_concurrent_requests == 7 and queue.target == "worker"
    assert [t.name for t in again.list_tasks("api-1")] == ["t1"]
    assert "api-1" in again.stats()


def test_create_refuses_taken_names_and_names_deleted_too_recently(env):
    make, clock = env
    svc = make()
    with pytest.raises(errors.QueueAlreadyExistsError):
        svc.create_queue(QueueDef(name="fromyaml"))
    svc.create_queue(QueueDef(name="gone"))
    with pytest.raises(errors.QueueAlreadyExistsError):
        svc.create_queue(QueueDef(name="gone"))
    svc.add([NewTask(queue="gone", name="t")])
    svc.delete_queue("gone")
    assert "gone" not in names(svc) and svc.list_tasks("gone") == []
    with pytest.raises(errors.UnknownQueueError):
        svc.add([NewTask(queue="gone")])
    with pytest.raises(errors.QueueRecentlyDeletedError):
        svc.create_queue(QueueDef(name="gone"))
    clock.now += 3 * 86400 + 1
    svc.create_queue(QueueDef(name="gone"))
    svc.add([NewTask(queue="gone", name="t")])  # the old task's tombstone went with the queue


def test_queue_yaml_queues_can_be_paused_but_not_redefined_or_deleted(env):
    make, _ = env
    svc = make()
    with pytest.raises(errors.QueueNotEditableError):
        svc.update_queue(QueueDef(name="fromyaml", rate="5/s", rate_per_second=5.0))
    with pytest.raises(errors.QueueNotEditableError):
        svc.delete_queue("fromyaml")
    with pytest.raises(errors.UnknownQueueError):
        svc.pause_queue("nope")
    assert svc.pause_queue("fromyaml").paused
    assert make().queue_config().get("fromyaml").paused


def test_update_creates_then_replaces_keeping_the_run_state(env):
    make, _ = env
    svc = make()
    svc.update_queue(QueueDef(name="upd", rate="1/s", rate_per_second=1.0))
    svc.pause_queue("upd")
    updated = svc.update_queue(QueueDef(name="upd", rate="3/s", rate_per_second=3.0))
    assert updated.rate_per_second == 3.0 and updated.paused


def test_a_paused_queue_takes_tasks_but_dispatches_none_until_resumed(env):
    make, clock = env
    svc = make()
    svc.create_queue(QueueDef(name="p"))
    svc.pause_queue("p")
    svc.add([NewTask(queue="p", name="a")])
    ran = []
    assert svc.run_due(execute=lambda r: ran.append(r.name) or 200) == 0 and svc.next_eta() is None
    svc.resume_queue("p")
    assert svc.run_due(execute=lambda r: ran.append(r.name) or 200) == 1 and ran == ["a"]


def test_api_queue_rates_are_enforced_without_the_option(env):
    make, clock = env
    svc = make()
    assert not svc.enforce_rates
    svc.create_queue(QueueDef(name="rated", rate="2/s", rate_per_second=2.0, bucket_size=1))
    svc.add([NewTask(queue="rated") for _ in range(5)])
    svc.add([NewTask(queue="fromyaml") for _ in range(5)])
    claimed = svc.claim_due(clock.now)
    assert sum(r.queue == "rated" for r in claimed) == 1  # one token: the burst
    assert sum(r.queue == "fromyaml" for r in claimed) == 5  # queue.yaml rates stay unenforced
    assert svc.next_rate_token(clock.now) == pytest.approx(clock.now + 0.5)


def test_api_queue_tombstones_last_an_hour(env):
    make, clock = env
    svc = make()
    svc.create_queue(QueueDef(name="short"))
    svc.add([NewTask(queue="short", name="once"), ])
    svc.add([NewTask(queue="fromyaml", name="once")])
    svc.delete("short", ["once"])
    svc.delete("fromyaml", ["once"])
    clock.now += 3601
    svc.add([NewTask(queue="short", name="once")])
    with pytest.raises(errors.TombstonedTaskError):
        svc.add([NewTask(queue="fromyaml", name="once")])


def test_purge_records_its_time(env):
    make, clock = env
    svc = make()
    svc.add([NewTask(queue="default")])
    assert svc.purge("default") == 1
    assert svc.queue_config().get("default").purge_time == T0
