"""The Cloud Tasks v2 gRPC front door in-process (a free loopback port over a fresh task queue
service, no dispatcher), driven by google-cloud-tasks on an insecure channel: request checks and
production's status codes and messages, conversions both ways, RunTask's outcome."""
from __future__ import annotations

import threading
import time
from typing import Iterator, List

import pytest

grpc = pytest.importorskip("grpc")
tasks_v2 = pytest.importorskip("google.cloud.tasks_v2")
from google.api_core import exceptions  # noqa: E402
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport  # noqa: E402

from gae_emu.cloud.tasks import CloudTasksServer  # noqa: E402
from gae_emu.config.models import QueueConfig, QueueDef, RetryParameters  # noqa: E402
from gae_emu.services.taskqueue import NewTask, TaskQueueService  # noqa: E402
from gae_emu.storage import Storage  # noqa: E402

PARENT = "projects/proj/locations/us-central1"
YAML = QueueConfig(queues=(QueueDef(name="default"), QueueDef(
    name="yaml", rate="2/s", rate_per_second=2.0, bucket_size=3, max_concurrent_requests=4, target="v1.worker",
    retry_parameters=RetryParameters(task_retry_limit=4, task_age_limit=60, min_backoff_seconds=1, max_doublings=2))))


@pytest.fixture
def service(tmp_path) -> Iterator[TaskQueueService]:
    storage = Storage(tmp_path / "db.sqlite3")
    yield TaskQueueService(storage, lambda: YAML, known_targets=lambda: ("default", "worker"))
    storage.close()


@pytest.fixture
def ran() -> List[object]:
    return []


@pytest.fixture
def client(service, ran) -> Iterator[tasks_v2.CloudTasksClient]:
    done = threading.Event()

    def app_engine(record) -> int:
        ran.append(record)
        done.set()
        return 200

    server = CloudTasksServer(service, "proj", app_engine, hostnames={"worker": "localhost:8081"})
    server.start()
    channel = grpc.insecure_channel(server.address)
    yield tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    channel.close()
    server.stop()


def test_a_queue_yaml_queue_as_cloud_tasks_shows_it(client):
    queue = client.get_queue(name=f"{PARENT}/queues/yaml")
    assert queue.rate_limits.max_dispatches_per_second == 2 and queue.rate_limits.max_burst_size == 3
    assert queue.rate_limits.max_concurrent_dispatches == 4
    assert (queue.app_engine_routing_override.service, queue.app_engine_routing_override.version) == ("worker", "v1")
    retry = queue.retry_config
    assert retry.max_attempts == 5 and retry.max_retry_duration.total_seconds() == 60  # limit 4 = 5 attempts
    assert retry.min_backoff.total_seconds() == 1 and retry.max_backoff.total_seconds() == 3600 and retry.max_doublings == 2
    assert queue.state == tasks_v2.Queue.State.RUNNING


def test_names_are_checked_as_production_checks_them(client):
    with pytest.raises(exceptions.PermissionDenied, match="Permission denied on resource project other"):
        client.get_queue(name="projects/other/locations/us-central1/queues/default")
    with pytest.raises(exceptions.InvalidArgument, match="europe-west1"):
        client.get_queue(name="projects/proj/locations/europe-west1/queues/default")
    with pytest.raises(exceptions.InvalidArgument, match="Queue name must be formatted"):
        client.get_queue(name=f"{PARENT}/queues/bad_name")
    with pytest.raises(exceptions.InvalidArgument, match="must be the same as the queue name in the named task"):
        client.create_task(parent=f"{PARENT}/queues/default",
                           task={"name": f"{PARENT}/queues/yaml/tasks/t", "app_engine_http_request": {}})


@pytest.mark.parametrize("task, message", [
    ({"app_engine_http_request": {"http_method": tasks_v2.HttpMethod.GET, "body": b"x"}}, "body can only be set"),
    ({"app_engine_http_request": {"relative_uri": "no-slash"}}, "must begin with '/'"),
    ({"app_engine_http_request": {}, "dispatch_deadline": {"seconds": 5}}, "dispatch_deadline must be between 15s"),
    ({"http_request": {"url": "ftp://x"}}, "must start with 'http://' or 'https://'"),
    ({}, "app_engine_http_request or http_request"),
    ({"http_request": {"url": "http://x", "headers": {"X-Bad": "a\r\nInjected: 1"}}}, "Invalid HTTP header"),
    ({"app_engine_http_request": {"headers": {"Bad Name": "v"}}}, "Invalid HTTP header"),
    ({"app_engine_http_request": {"app_engine_routing": {"service": "nope"}}}, "Unknown target"),
    ({"app_engine_http_request": {}, "schedule_time": {"seconds": int(time.time()) + 31 * 86400}}, "30 days"),
])
def test_invalid_tasks_are_invalid_argument_naming_the_field(client, task, message):
    with pytest.raises(exceptions.InvalidArgument, match=message):
        client.create_task(parent=f"{PARENT}/queues/default", task=task)


def test_invalid_queues_are_invalid_argument(client):
    for queue, message in (({"rate_limits": {"max_dispatches_per_second": 501}}, "max_dispatches_per_second"),
                           ({"rate_limits": {"max_concurrent_dispatches": 5001}}, "max_concurrent_dispatches"),
                           ({"retry_config": {"max_attempts": -2}}, "max_attempts"),
                           ({"retry_config": {"min_backoff": {"seconds": 9}, "max_backoff": {"seconds": 1}}}, "max_backoff")):
        with pytest.raises(exceptions.InvalidArgument, match=message):
            client.create_queue(parent=PARENT, queue={"name": f"{PARENT}/queues/q", **queue})
    with pytest.raises(exceptions.InvalidArgument, match="output-only"):
        client.update_queue(queue={"name": f"{PARENT}/queues/q"}, update_mask={"paths": ["state"]})
    with pytest.raises(exceptions.InvalidArgument, match="Invalid update_mask"):
        client.update_queue(queue={"name": f"{PARENT}/queues/q"}, update_mask={"paths": ["nonsense"]})
    with pytest.raises(exceptions.FailedPrecondition, match="queue.yaml"):
        client.update_queue(queue={"name": f"{PARENT}/queues/yaml"})


def test_update_queue_creates_then_applies_only_the_masked_fields(client):
    name = f"{PARENT}/queues/upd"
    created = client.update_queue(queue={"name": name, "retry_config": {"max_attempts": 3}})
    assert created.retry_config.max_attempts == 3 and created.rate_limits.max_dispatches_per_second == 500
    assert created.rate_limits.max_burst_size == 100  # production's default pair
    updated = client.update_queue(queue={"name": name, "rate_limits": {"max_dispatches_per_second": 1},
                                         "retry_config": {"max_attempts": 9}},
                                  update_mask={"paths": ["rate_limits.max_dispatches_per_second"]})
    assert updated.rate_limits.max_dispatches_per_second == 1 and updated.retry_config.max_attempts == 3
    assert [q.name for q in client.list_queues(request={"parent": PARENT, "filter": "state: PAUSED"})] == []
    client.pause_queue(name=name)
    assert [q.name for q in client.list_queues(request={"parent": PARENT, "filter": "state: PAUSED"})] == [name]


def test_legacy_tasks_read_as_app_engine_requests(client, service):
    service.add([NewTask(queue="yaml", name="legacy", url="/work", method="PUT", payload=b"p",
                         headers=(("X-Custom", "1"),), eta=time.time() + 60)])
    task = client.get_task(request={"name": f"{PARENT}/queues/yaml/tasks/legacy", "response_view": tasks_v2.Task.View.FULL})
    request = task.app_engine_http_request
    assert request.relative_uri == "/work" and request.http_method == tasks_v2.HttpMethod.PUT and request.body == b"p"
    assert request.headers["X-Custom"] == "1"
    assert (request.app_engine_routing.service, request.app_engine_routing.version) == ("worker", "v1")
    assert request.app_engine_routing.host == "localhost:8081"
    assert task.view == tasks_v2.Task.View.FULL and task.dispatch_count == 0


def test_run_task_runs_it_at_once_and_records_the_outcome(client, service, ran):
    service.pause_queue("default")
    task = client.create_task(parent=f"{PARENT}/queues/default",
                              task={"schedule_time": {"seconds": int(time.time()) + 600}, "app_engine_http_request": {}})
    running = client.run_task(name=task.name)
    assert running.dispatch_count == 1 and running.first_attempt.dispatch_time
    from gae_emu.testing import wait_for

    wait_for(lambda: service.get_task("default", task.name.rsplit("/", 1)[1]) is None, what="the outcome")
    assert [r.name for r in ran] == [task.name.rsplit("/", 1)[1]]
    with pytest.raises(exceptions.NotFound, match="existed recently"):
        client.run_task(name=task.name)
    with pytest.raises(exceptions.NotFound, match="Requested entity was not found"):
        client.delete_task(name=f"{PARENT}/queues/default/tasks/never")


def test_unsupported_methods_are_unimplemented(client):
    with pytest.raises(exceptions.MethodNotImplemented):
        client.get_iam_policy(resource=f"{PARENT}/queues/default")
