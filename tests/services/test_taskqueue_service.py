"""TaskQueueService: names, tombstones, limits, retries (B7), targets, pull leases, restarts."""
from __future__ import annotations

import pytest

from gae_emu.config.models import QueueConfig, QueueDef, RetryParameters
from gae_emu.services.taskqueue import NewTask, TaskQueueService, errors
from gae_emu.services.taskqueue.retry import RetryPolicy, resolve
from gae_emu.storage import Storage

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


QUEUES = QueueConfig(queues=(
    QueueDef(name="default"),
    QueueDef(name="fast", retry_parameters=RetryParameters(min_backoff_seconds=10, max_backoff_seconds=300, max_doublings=3)),
    QueueDef(name="limited", retry_parameters=RetryParameters(task_retry_limit=2, task_age_limit=100, min_backoff_seconds=1)),
    QueueDef(name="pulled", mode="pull", retry_parameters=RetryParameters(task_retry_limit=1)),
    QueueDef(name="toworker", target="worker"),
    QueueDef(name="one", max_concurrent_requests=1),
))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(storage, clock):
    def make(**kwargs):
        kwargs.setdefault("known_targets", lambda: ("default", "worker"))
        return TaskQueueService(storage, lambda: QUEUES, clock=clock, **kwargs)
    return make


@pytest.fixture
def svc(make) -> TaskQueueService:
    return make()


def ok(record) -> int:
    return 200


# -- names and tombstones ------------------------------------------------------------------------

def test_auto_names_are_long_numbers(svc):
    names = svc.add([NewTask(), NewTask()])
    assert all(len(n) == 20 and n.isdigit() for n in names) and names[0] != names[1]


def test_auto_names_ascend_and_start_above_an_earlier_process(svc):
    earlier = svc.add([NewTask()])[0]
    later = [svc.add([NewTask()])[0] for _ in range(3)]
    assert sorted(later) == later and earlier < later[0]
    assert int(earlier) >= 10**19 + (T0 * 1e6) * 1000  # from the wall clock, not the test's fake one


def test_one_auto_named_task_is_one_statement_and_joins_an_open_transaction(svc, storage):
    statements = []
    storage.connection().set_trace_callback(statements.append)
    svc.add([NewTask(payload=b"x")])
    storage.connection().set_trace_callback(None)
    assert [s.split()[0] for s in statements] == ["INSERT"]
    with pytest.raises(RuntimeError):
        with storage.transaction():
            svc.add([NewTask(payload=b"rolled back")])
            raise RuntimeError("roll back")
    assert [t.payload for t in svc.list_tasks("default")] == [b"x"]


def test_complete_and_claim_is_one_transaction(svc, storage, clock):
    svc.add([NewTask(name=f"t{i}") for i in range(3)])
    first = svc.claim_due(clock.now, 2)
    statements = []
    storage.connection().set_trace_callback(statements.append)
    second = svc.complete_and_claim([(r, 200) for r in first], clock.now, 10)
    storage.connection().set_trace_callback(None)
    assert [r.name for r in second] == ["t2"]
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert [t.name for t in svc.list_tasks("default")] == ["t2"]
    assert {n for n, _ in svc.tombstones("default")} == {"t0", "t1"}


def test_old_databases_lose_the_in_flight_index(tmp_path, clock):
    from gae_emu.services.taskqueue import store
    old = Storage(tmp_path / "old.sqlite3")
    old.connection().executescript(store.SCHEMA + "CREATE INDEX tq_tasks_flight ON tq_tasks (in_flight);")
    old.close()
    reopened = Storage(tmp_path / "old.sqlite3")
    TaskQueueService(reopened, lambda: QUEUES, clock=clock)
    names = {r[0] for r in reopened.connection().execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    reopened.close()
    assert "tq_tasks_flight" not in names and "tq_tasks_due" in names


def test_queued_name_already_exists_then_tombstoned_after_run(svc, clock):
    svc.add([NewTask(name="a")])
    with pytest.raises(errors.TaskAlreadyExistsError):
        svc.add([NewTask(name="a")])
    assert svc.run_due(clock.now, ok) == 1
    with pytest.raises(errors.TombstonedTaskError):
        svc.add([NewTask(name="a")])
    assert [n for n, _ in svc.tombstones("default")] == ["a"]


def test_delete_leaves_tombstone_and_reports_per_name(svc):
    svc.add([NewTask(name="a")])
    results = svc.delete("default", ["a", "a2"])
    assert results[0] is None and isinstance(results[1], errors.UnknownTaskError)
    assert isinstance(svc.delete("default", ["a"])[0], errors.TombstonedTaskError)
    with pytest.raises(errors.TombstonedTaskError):
        svc.add([NewTask(name="a")])


def test_purge_keeps_tombstones_and_clear_tombstones_frees_names(svc):
    svc.add([NewTask(name="a"), NewTask(name="b")])
    assert svc.purge("default") == 2
    with pytest.raises(errors.TombstonedTaskError):
        svc.add([NewTask(name="a")])
    svc.clear_tombstones("default")
    svc.add([NewTask(name="a")])


def test_tombstones_expire(make, clock):
    svc = make(tombstone_ttl=60)
    svc.add([NewTask(name="a")])
    svc.delete("default", ["a"])
    clock.now += 61
    assert svc.add([NewTask(name="a")]) == ["a"]


def test_tombstones_and_tasks_survive_reopening(tmp_path, clock):
    first = Storage(tmp_path / "db.sqlite3")
    svc = TaskQueueService(first, lambda: QUEUES, clock=clock)
    svc.add([NewTask(name="gone"), NewTask(name="kept", eta=T0 + 60)])
    svc.delete("default", ["gone"])
    first.close()
    again = TaskQueueService(Storage(tmp_path / "db.sqlite3"), lambda: QUEUES, clock=clock)
    with pytest.raises(errors.TombstonedTaskError):
        again.add([NewTask(name="gone")])
    assert again.get_task("default", "kept").eta == T0 + 60


def test_reset_forgets_everything(svc):
    svc.add([NewTask(name="a"), NewTask(name="b")])
    svc.delete("default", ["a"])
    svc.reset()
    assert svc.list_tasks("default") == [] and svc.tombstones("default") == []
    svc.add([NewTask(name="a")])


# -- limits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("task, error", [
    (NewTask(queue="nope"), errors.UnknownQueueError),
    (NewTask(queue="bad_name!"), errors.InvalidQueueNameError),
    (NewTask(name="has space"), errors.InvalidTaskNameError),
    (NewTask(name="x" * 501), errors.InvalidTaskNameError),
    (NewTask(eta=T0 + 30 * 86400 + 1), errors.InvalidEtaError),
    (NewTask(eta=-1), errors.InvalidEtaError),
    (NewTask(payload=b"x" * 102400), errors.TaskTooLargeError),
    (NewTask(queue="pulled"), errors.InvalidQueueModeError),
    (NewTask(method="PULL", payload=b"x"), errors.InvalidQueueModeError),
    (NewTask(target="nosuch"), errors.UnknownTargetError),
    (NewTask(url="x" * 3000), errors.InvalidUrlError),
])
def test_add_refuses(svc, task, error):
    with pytest.raises(error):
        svc.add([task])
    assert svc.list_tasks(task.queue if task.queue != "bad_name!" else "default") == []


def test_size_limit_counts_like_the_client_and_is_configurable(make):
    svc = make(max_task_size=1000)
    svc.add([NewTask(payload=b"x" * (1000 - len("POST")))])
    with pytest.raises(errors.TaskTooLargeError):
        svc.add([NewTask(payload=b"x" * (1001 - len("POST")))])


def test_unknown_target_message_names_services(svc):
    with pytest.raises(errors.UnknownTargetError, match="default, worker"):
        svc.add([NewTask(target="v1.nosuch")])
    svc.add([NewTask(target="v1.worker")])
    assert svc.add([NewTask(queue="toworker")]) and svc.list_tasks("toworker")[0].target == "worker"


def test_batch_rules(svc):
    with pytest.raises(errors.TooManyTasksError):
        svc.add([NewTask() for _ in range(101)])
    with pytest.raises(errors.DuplicateTaskNameError):
        svc.add([NewTask(name="d"), NewTask(name="d")])
    assert len(svc.add([NewTask() for _ in range(100)])) == 100


def test_add_is_all_or_nothing_but_add_results_reports_per_task(svc):
    svc.add([NewTask(name="taken")])
    with pytest.raises(errors.TaskAlreadyExistsError):
        svc.add([NewTask(name="new1"), NewTask(name="taken")])
    assert svc.get_task("default", "new1") is None
    results = svc.add_results([NewTask(name="new1"), NewTask(name="taken")])
    assert results[0] == ("new1", None) and isinstance(results[1][1], errors.TaskAlreadyExistsError)
    # an invalid task skips the whole batch
    results = svc.add_results([NewTask(name="new2"), NewTask(name="bad name")])
    assert results[0] == (None, None) and isinstance(results[1][1], errors.InvalidTaskNameError)
    assert svc.get_task("default", "new2") is None


def test_first_error_prefers_other_errors_to_name_conflicts():
    exists, other = errors.TaskAlreadyExistsError(), errors.InvalidEtaError()
    assert errors.first_error([("a", None), (None, exists), (None, other)]) is other
    assert errors.first_error([(None, other), (None, exists)]) is other
    assert errors.first_error([("a", None)]) is None


# -- retries (B7) -------------------------------------------------------------------------------

def test_documented_backoff_sequences():
    doubling = RetryPolicy(min_backoff=10, max_backoff=300, max_doublings=3)
    assert [doubling.backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]
    linear = RetryPolicy(min_backoff=10, max_backoff=200, max_doublings=0)
    assert [linear.backoff(n) for n in range(1, 21)] == [10 * n for n in range(1, 21)]


def test_can_retry_needs_both_limits_exceeded():
    both = RetryPolicy(retry_limit=2, age_limit=100)
    assert both.can_retry(3, 50) and both.can_retry(1, 500) and not both.can_retry(3, 101)
    assert not RetryPolicy(retry_limit=0).can_retry(1, 0)
    assert RetryPolicy(retry_limit=7).can_retry(7, 0) and not RetryPolicy(retry_limit=7).can_retry(8, 0)
    assert not RetryPolicy(age_limit=10).can_retry(1, 11)
    assert RetryPolicy().can_retry(10**6, 10**9)


def test_resolve_prefers_task_then_queue_then_defaults():
    queue = RetryParameters(min_backoff_seconds=5)
    assert resolve(None, None) == RetryPolicy()
    assert resolve(None, queue).min_backoff == 5
    assert resolve(RetryParameters(max_backoff_seconds=0.05), queue) == RetryPolicy(min_backoff=0.05, max_backoff=0.05)
    assert resolve(RetryParameters(min_backoff_seconds=5000), None).max_backoff == 5000


def test_failed_runs_follow_queue_backoff_and_count(svc, clock):
    svc.add([NewTask(queue="fast", name="t")])
    start = clock.now
    etas = []
    for _ in range(8):
        task = svc.get_task("fast", "t")
        clock.now = task.eta
        assert svc.run_due(clock.now, lambda r: 500) == 1
        etas.append(svc.get_task("fast", "t").eta - clock.now)
    assert etas == [10, 20, 40, 80, 160, 240, 300, 300]
    task = svc.get_task("fast", "t")
    assert (task.retry_count, task.execution_count, task.first_try, task.last_response) == (8, 8, start, 500)


def test_task_retry_options_override_queue(svc, clock):
    svc.add([NewTask(queue="fast", name="t", retry=RetryParameters(min_backoff_seconds=1, max_doublings=0))])
    svc.run_due(clock.now, lambda r: 0)
    assert svc.get_task("fast", "t").eta == clock.now + 1


def test_stats_count_tasks_that_failed_at_least_once(svc, clock):
    """The console's Failures column: a task failing 9 times and still retrying counts (issue 17)."""
    svc.add([NewTask(queue="fast", name="bad"), NewTask(queue="fast", name="good", eta=clock.now + 3600)])
    for _ in range(9):
        clock.now = svc.get_task("fast", "bad").eta
        svc.run_due(clock.now, lambda r: 500)
    stats = svc.stats()["fast"]
    assert (stats.tasks, stats.failed, stats.failures, svc.get_task("fast", "bad").retry_count) == (2, 1, 0, 9)


def test_drop_only_when_both_limits_exceeded(svc, clock):
    svc.add([NewTask(queue="limited", name="t")])
    for _ in range(5):  # retry limit 2 is passed quickly, but the age limit (100 s) is not
        clock.now = svc.get_task("limited", "t").eta
        svc.run_due(clock.now, lambda r: 500)
    assert svc.get_task("limited", "t").retry_count == 5
    clock.now = svc.get_task("limited", "t").first_try + 101
    svc.run_due(clock.now, lambda r: 500)
    assert svc.get_task("limited", "t") is None
    assert (svc.stats()["limited"].failures, svc.stats()["limited"].failed) == (1, 0)
    with pytest.raises(errors.TombstonedTaskError):
        svc.add([NewTask(queue="limited", name="t")])


def test_retry_limit_zero_means_one_attempt(svc, clock):
    svc.add([NewTask(name="t", retry=RetryParameters(task_retry_limit=0))])
    svc.run_due(clock.now, lambda r: 404)
    assert svc.get_task("default", "t") is None


def test_exception_counts_as_failure_and_first_try_is_set_at_first_run(svc, clock):
    svc.add([NewTask(name="t", eta=T0 + 5)])
    assert svc.get_task("default", "t").first_try is None
    clock.now = T0 + 5

    def boom(record):
        raise RuntimeError("handler bug")
    assert svc.run_due(clock.now, boom) == 1
    task = svc.get_task("default", "t")
    assert (task.retry_count, task.last_response, task.first_try) == (1, 0, T0 + 5)


def test_run_due_only_runs_due_tasks_and_sees_records(svc, clock):
    svc.add([NewTask(name="now", payload=b"p", headers=(("X-A", "1"),)), NewTask(name="later", eta=T0 + 10)])
    seen = []
    assert svc.run_due(clock.now, lambda r: seen.append(r) or 200) == 1
    assert seen[0].name == "now" and seen[0].payload == b"p" and seen[0].url == "/_ah/queue/default"
    assert seen[0].headers == (("X-A", "1"),) and seen[0].retry_count == 0
    assert svc.next_eta() == T0 + 10
    assert svc.next_eta() is not None


def test_claim_task_runs_one_task_by_name_whatever_its_eta(svc, clock):
    svc.add([NewTask(name="later", eta=T0 + 100), NewTask(name="other", eta=T0 + 100)])
    task = svc.claim_task("default", "later")
    assert task.in_flight and task.retry_count == 0 and task.first_try == clock.now
    with pytest.raises(errors.TaskLeaseExpiredError):
        svc.claim_task("default", "later")  # already running
    with pytest.raises(errors.UnknownTaskError):
        svc.claim_task("default", "nope")
    svc.complete([(task, 200)], clock.now)
    assert svc.get_task("default", "later") is None
    assert svc.get_task("default", "other") is not None and svc.claim_due(clock.now) == []


def test_in_flight_tasks_run_again_after_restart(storage, make, clock):
    svc = make()
    svc.add([NewTask(name="t")])
    assert [r.name for r in svc.claim_due(clock.now)] == ["t"]
    assert svc.claim_due(clock.now) == [] and svc.stats()["default"].in_flight == 1
    again = make()  # a new process on the same database
    assert [r.name for r in again.claim_due(clock.now)] == ["t"]


def test_claim_respects_max_concurrent_requests(svc, clock):
    svc.add([NewTask(queue="one") for _ in range(3)])
    first = svc.claim_due(clock.now)
    assert len(first) == 1 and svc.claim_due(clock.now) == []
    svc.complete([(first[0], 200)], clock.now)
    assert len(svc.claim_due(clock.now)) == 1


def test_listeners_hear_adds(svc):
    calls = []
    svc.add_listener(lambda: calls.append(1))
    svc.add([NewTask()])
    assert calls == [1]


def test_stats(svc, clock):
    svc.add([NewTask(eta=T0 + 5), NewTask(eta=T0 + 1)])
    svc.add([NewTask(queue="fast")])
    stats = svc.stats()
    assert stats["default"].tasks == 2 and stats["default"].oldest_eta == T0 + 1
    svc.run_due(clock.now, ok)
    assert svc.stats()["fast"].executed_last_minute == 1 and svc.stats()["fast"].tasks == 0


def test_queue_config_is_read_on_every_call(storage, clock):
    config = {"value": QueueConfig()}
    svc = TaskQueueService(storage, lambda: config["value"], clock=clock)
    with pytest.raises(errors.UnknownQueueError):
        svc.add([NewTask(queue="later")])
    config["value"] = QueueConfig(queues=(QueueDef(name="default"), QueueDef(name="later")))
    svc.add([NewTask(queue="later")])


# -- pull queues --------------------------------------------------------------------------------

def test_lease_modify_and_retry_limit(svc, clock):
    svc.add([NewTask(queue="pulled", name="p", method="PULL", payload=b"x", tag="t")])
    with pytest.raises(errors.InvalidQueueModeError):
        svc.lease_tasks("default", 10, 1)
    [leased] = svc.lease_tasks("pulled", 30, 10)
    assert leased.eta == clock.now + 30 and leased.retry_count == 1
    assert svc.lease_tasks("pulled", 30, 10) == []
    new_eta = svc.modify_lease("pulled", "p", leased.eta, 60)
    assert new_eta == clock.now + 60
    with pytest.raises(errors.TaskLeaseExpiredError):
        svc.modify_lease("pulled", "p", leased.eta, 60)
    clock.now += 61
    assert svc.lease_tasks("pulled", 30, 10) == []  # retry limit 1 used up: deleted at lease time
    assert svc.get_task("pulled", "p") is None


def test_lease_by_tag(svc, clock):
    svc.add([NewTask(queue="pulled", name=n, method="PULL", payload=b"x", tag=tag, eta=T0 - i)
             for i, (n, tag) in enumerate([("a", "x"), ("b", "y"), ("c", "x")])])
    assert {t.name for t in svc.lease_tasks("pulled", 30, 10, group_by_tag=True)} == {"a", "c"}  # oldest is c
    assert [t.name for t in svc.lease_tasks("pulled", 30, 10, tag="y", group_by_tag=True)] == ["b"]


# -- transactional tasks ------------------------------------------------------------------------

class FakeTxn:
    def __init__(self) -> None:
        self.commits, self.rollbacks = [], []

    def on_commit(self, fn) -> None:
        self.commits.append(fn)

    def on_rollback(self, fn) -> None:
        self.rollbacks.append(fn)


def test_transactional_add_on_commit_and_rollback(svc, storage):
    txn = FakeTxn()
    names = svc.add_transactional([NewTask(payload=b"a")], txn)
    svc.add_transactional([NewTask(queue="fast")], txn)
    assert svc.get_task("default", names[0]) is None
    with storage.transaction() as conn:
        for fn in txn.commits:
            fn(conn)
    assert svc.get_task("default", names[0]) is not None and len(svc.list_tasks("fast")) == 1
    dropped = FakeTxn()
    name = svc.add_transactional([NewTask()], dropped)[0]
    for fn in dropped.rollbacks:
        fn()
    with storage.transaction() as conn:
        for fn in dropped.commits:
            fn(conn)
    assert svc.get_task("default", name) is None


def test_transactional_refusals(svc):
    with pytest.raises(errors.BadTransactionStateError):
        svc.add_transactional([NewTask()], None)
    with pytest.raises(errors.InvalidTaskNameError, match="cannot be named"):
        svc.add_transactional([NewTask(name="n")], FakeTxn())
    txn = FakeTxn()
    svc.add_transactional([NewTask() for _ in range(5)], txn)
    with pytest.raises(errors.TooManyTasksError):
        svc.add_transactional([NewTask()], txn)
    with pytest.raises(errors.UnknownQueueError):
        svc.add_transactional([NewTask(queue="nope")], FakeTxn())
