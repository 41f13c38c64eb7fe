"""gae_emu.api.taskqueue: the surface of google.appengine.api.taskqueue over the service."""
from __future__ import annotations

import datetime
import urllib.parse

import pytest

from gae_emu import apiproxy
from gae_emu.api import taskqueue
from gae_emu.config.models import QueueConfig, QueueDef
from gae_emu.services.taskqueue import TaskQueueService
from gae_emu.storage import Storage

T0 = 1_700_000_000.0
QUEUES = QueueConfig(queues=(QueueDef(name="default"), QueueDef(name="pulled", mode="pull")))


@pytest.fixture
def svc(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    service = TaskQueueService(storage, lambda: QUEUES, clock=lambda: T0,
                               known_targets=lambda: ("default", "worker"), max_task_size=2000)
    services = apiproxy.Services(app_id="dev~app", storage=storage, taskqueue=service,
                                 hostnames={"default": "localhost:8080", "worker": "worker.localhost:8080"})
    apiproxy.install(services)
    yield service
    apiproxy.uninstall(services)
    storage.close()


def test_add_defaults(svc):
    task = taskqueue.add(params={"a": "1", "b": ["x", "y"]})
    assert task.was_enqueued and task.queue_name == "default" and len(task.name) == 20
    record = svc.get_task("default", task.name)
    assert record.url == "/_ah/queue/default" and record.method == "POST" and record.eta == T0
    assert urllib.parse.parse_qs(record.payload.decode()) == {"a": ["1"], "b": ["x", "y"]}
    headers = dict(record.headers)
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["X-AppEngine-Current-Namespace"] == ""


def test_str_payload_countdown_and_named_task(svc):
    task = taskqueue.Task(payload="héllo", url="/work", name="n1", countdown=30)
    assert taskqueue.Queue().add(task) is task
    record = svc.get_task("default", "n1")
    assert record.payload == "héllo".encode() and record.eta == T0 + 30
    assert dict(record.headers)["content-type"] == "text/plain; charset=utf-8"
    with pytest.raises(taskqueue.BadTaskStateError):
        taskqueue.Queue().add(task)
    with pytest.raises(taskqueue.TaskAlreadyExistsError):
        taskqueue.add(name="n1")
    taskqueue.Queue().delete_tasks_by_name("n1")
    with pytest.raises(taskqueue.TombstonedTaskError) as info:
        taskqueue.add(name="n1")
    assert isinstance(info.value, taskqueue.InvalidTaskError)


def test_get_with_params_goes_to_query_string(svc):
    task = taskqueue.add(url="/q", method="GET", params={"k": "v"})
    assert svc.get_task("default", task.name).url == "/q?k=v"


@pytest.mark.parametrize("kwargs, error", [
    (dict(countdown=1, eta=datetime.datetime(2030, 1, 1)), taskqueue.InvalidTaskError),
    (dict(url="/x?a=1"), taskqueue.InvalidTaskError),
    (dict(url="/x", params={"a": 1}, payload="p"), taskqueue.InvalidTaskError),
    (dict(name="bad name"), taskqueue.InvalidTaskNameError),
    (dict(url="http://elsewhere/x"), taskqueue.InvalidUrlError),
    (dict(countdown=31 * 86400), taskqueue.InvalidEtaError),
    (dict(payload="x" * 2000), taskqueue.TaskTooLargeError),
    (dict(target="worker", headers={"Host": "h"}), taskqueue.InvalidTaskError),
    (dict(method="GET", payload="x"), taskqueue.InvalidTaskError),
    (dict(payload=123), taskqueue.InvalidTaskError),
    (dict(tag="t"), taskqueue.InvalidTaskError),
])
def test_task_construction_refusals(svc, kwargs, error):
    with pytest.raises(error):
        taskqueue.Task(**kwargs)


def test_queue_and_service_errors(svc):
    with pytest.raises(taskqueue.InvalidQueueNameError):
        taskqueue.Queue("bad_name")
    with pytest.raises(taskqueue.UnknownQueueError):
        taskqueue.add(queue_name="nope")
    with pytest.raises(taskqueue.InvalidQueueModeError):
        taskqueue.add(queue_name="pulled")
    with pytest.raises(taskqueue.InvalidTaskError, match="default, worker"):
        taskqueue.add(target="nosuch")
    with pytest.raises(taskqueue.TooManyTasksError):
        taskqueue.Queue().add([taskqueue.Task() for _ in range(101)])
    with pytest.raises(taskqueue.DuplicateTaskNameError):
        taskqueue.Queue().add([taskqueue.Task(name="d"), taskqueue.Task(name="d")])


def test_bulk_add_enqueues_others_and_raises_first_error(svc):
    taskqueue.add(name="taken")
    tasks = [taskqueue.Task(name="fresh"), taskqueue.Task(name="taken")]
    with pytest.raises(taskqueue.TaskAlreadyExistsError):
        taskqueue.Queue().add(tasks)
    assert [t.was_enqueued for t in tasks] == [True, False]


def test_target_sets_host_and_request_host_is_default(svc):
    task = taskqueue.add(target="worker")
    assert task.target == "worker" and task.headers["Host"] == "worker.localhost:8080"
    assert svc.get_task("default", task.name).target == "worker"
    with apiproxy.serving({"HTTP_HOST": "worker.localhost:8080"}):
        inherited = taskqueue.Task()
    assert inherited.headers["Host"] == "worker.localhost:8080" and inherited.target == "worker"
    assert taskqueue.Task(target=taskqueue.DEFAULT_APP_VERSION).headers["Host"] == "localhost:8080"


def test_size_counts_like_the_service(svc):
    task = taskqueue.Task(payload=b"abc", url="/u", headers={"K": "v"})
    assert task.size == len("POST") + 3 + len("/u") + sum(len(k) + len(v) + 4 for k, v in [
        ("K", "v"), ("X-AppEngine-Current-Namespace", "")])


def test_retry_options_validation_and_use(svc):
    with pytest.raises(taskqueue.InvalidTaskRetryOptionsError):
        taskqueue.TaskRetryOptions(min_backoff_seconds=-1)
    with pytest.raises(taskqueue.InvalidTaskRetryOptionsError):
        taskqueue.TaskRetryOptions(min_backoff_seconds=10, max_backoff_seconds=5)
    with pytest.raises(TypeError):
        taskqueue.TaskRetryOptions(bogus=1)
    options = taskqueue.TaskRetryOptions(task_age_limit=1.2, task_retry_limit=3)
    assert options.task_age_limit == 2
    task = taskqueue.add(retry_options=options)
    assert svc.get_task("default", task.name).retry.task_retry_limit == 3


def test_transactional_refused_outside_transaction(svc):
    with pytest.raises(taskqueue.BadTransactionStateError):
        taskqueue.add(transactional=True)
    assert taskqueue.BadTransactionState is taskqueue.BadTransactionStateError


class FakeTxn:
    def __init__(self) -> None:
        self.commits, self.rollbacks = [], []

    def on_commit(self, fn) -> None:
        self.commits.append(fn)

    def on_rollback(self, fn) -> None:
        self.rollbacks.append(fn)


def test_transactional_add_waits_for_commit(svc):
    txn = FakeTxn()
    token = apiproxy.current_transaction.set(txn)
    try:
        with pytest.raises(taskqueue.InvalidTaskNameError):
            taskqueue.add(name="named", transactional=True)
        task = taskqueue.add(transactional=True)
    finally:
        apiproxy.current_transaction.reset(token)
    assert task.name and svc.get_task("default", task.name) is None
    with svc.storage.transaction() as conn:
        for fn in txn.commits:
            fn(conn)
    assert svc.get_task("default", task.name) is not None


def test_delete_purge_and_statistics(svc):
    tasks = taskqueue.Queue().add([taskqueue.Task(name="a"), taskqueue.Task(name="b", countdown=5)])
    stats = taskqueue.Queue().fetch_statistics()
    assert stats.tasks == 2 and stats.oldest_eta_usec == int(T0 * 1e6)
    deleted = taskqueue.Queue().delete_tasks_by_name(["a", "zz"])
    assert [t.was_deleted for t in deleted] == [True, False]
    with pytest.raises(taskqueue.BadTaskStateError):
        taskqueue.Queue().delete_tasks(deleted[0])
    taskqueue.Queue().purge()
    assert taskqueue.Queue().fetch_statistics().tasks == 0
    assert tasks[1].name == "b"


def test_pull_queue_lease_and_modify(svc):
    q = taskqueue.Queue("pulled")
    q.add(taskqueue.Task(payload="work", method="PULL", tag="t", name="p"))
    with pytest.raises(taskqueue.InvalidTaskError):
        taskqueue.Task(payload="x", method="PULL", url="/x")
    with pytest.raises(taskqueue.InvalidLeaseTimeError):
        q.lease_tasks(-1, 10)
    with pytest.raises(taskqueue.InvalidMaxTasksError):
        q.lease_tasks(10, 1001)
    [task] = q.lease_tasks_by_tag(60, 10)
    assert task.payload == b"work" and task.retry_count == 1 and task.eta_posix == T0 + 60
    q.modify_task_lease(task, 120)
    assert task.eta_posix == T0 + 120
    q.delete_tasks(task)
    assert task.was_deleted
