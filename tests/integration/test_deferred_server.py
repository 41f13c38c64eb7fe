"""`deferred` through the real `gae-emu dev`: the seed example, every callable kind that works and
every kind refused at defer time, the large-payload paths (plain and transactional), task option
pass-through, failure semantics, the handler's gate against outside callers, and a restart.

The test app (tests/integration/apps/deferred) mounts the handler with the seed's app.yaml entry
(default service) and with `builtins: - deferred: on` (worker service); its deferred callables
record each run, with the task request's headers, in the datastore.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlencode

import pytest

from gae_emu.testing import EmulatorHandle, HttpClient, emulator, wait_for

APP = Path(__file__).parent / "apps" / "deferred"
DEFERRED_URL = "/_ah/queue/deferred"
# Protocol-0 pickle that calls defapp.record(<tag>) while it is being unpickled: if a handler
# unpickles an outsider's body, the call leaves a record.
MARKER_PICKLE = "cdefapp\nrecord\n(V{tag}\ntR."


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def call(handle: EmulatorHandle, route: str, **params: Any) -> Any:
    resp = handle.client.get(f"{route}?{urlencode(params)}")
    assert resp.status == 200, resp.text
    return resp.json()


def runs(handle: EmulatorHandle, tag: str) -> List[Dict[str, Any]]:
    return call(handle, "/runs", tag=tag)


def wait_runs(handle: EmulatorHandle, tag: str, count: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
    return wait_for(lambda: (lambda r: r if len(r) >= count else None)(runs(handle, tag)), timeout,
                    f"{count} runs of {tag}")


def wait_queue_empty(handle: EmulatorHandle, queue: str, timeout: float = 10.0) -> None:
    wait_for(lambda: call(handle, "/stats", queue=queue)["tasks"] == 0, timeout, f"queue {queue} to empty")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with emulator(APP, APP / "worker.yaml", storage_path=tmp_path_factory.mktemp("deferred-storage")) as handle:
        yield handle


# -- the seed example -------------------------------------------------------------------------------


def test_seed_example(server: EmulatorHandle) -> None:
    seeded = call(server, "/seed", countdown=1)
    key = seeded["key"]
    first, second = seeded["tasks"]
    assert first["queue"] == "default" and second["queue"] == "foo"
    assert second["eta"] - first["eta"] == pytest.approx(1.0, abs=0.2)
    # The first task runs at once; the one with the countdown waits for its eta.
    wait_for(lambda: call(server, "/model", key=key)["total"] == 20, what="total 20")
    assert time.time() < second["eta"] or call(server, "/model", key=key)["total"] == 40
    wait_for(lambda: call(server, "/model", key=key)["total"] == 40, what="total 40")
    assert time.time() >= second["eta"]


# -- callable kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["function", "class", "instance", "bound", "classmethod",
                                  "builtin_function", "builtin_method"])
def test_callable_kind_is_deferred_and_run(server: EmulatorHandle, kind: str) -> None:
    tag = uid(kind)
    task = call(server, "/defer", kind=kind, tag=tag)
    [run] = wait_runs(server, tag, 1)
    assert run["headers"]["x-appengine-taskname"] == task["name"]
    assert run["path"] == DEFERRED_URL
    expected = {"function": {"kind": "function"}, "class": {"kind": "class"},
                "instance": {"kind": "instance", "prefix": "p"}, "bound": {"kind": "bound", "value": 7},
                "classmethod": {"kind": "classmethod", "cls": "Thing"}}.get(kind, {})
    assert run["info"] == expected


@pytest.mark.parametrize("kind, words", [
    ("nested_function", ["nested_function", "nested"]),
    ("closure", ["closure", "nested"]),
    ("lambda", ["<lambda>", "lambda"]),
    ("staticmethod", ["Thing.smethod", "static"]),
    ("staticmethod_object", ["smethod", "static"]),
    ("nested_class", ["Thing.Inner", "nested class"]),
    ("nested_class_instance", ["Thing.Inner", "nested class"]),
    ("local_class", ["LocalClass", "local class"]),
    ("local_class_instance", ["LocalClass", "local class"]),
])
def test_forbidden_callable_is_refused_at_defer_time(server: EmulatorHandle, kind: str, words: List[str]) -> None:
    result = call(server, "/forbidden", kind=kind, tag=uid("refused"))
    assert result["error"] in ("ValueError", "PicklingError"), result
    for word in words:
        assert word in result["message"], result["message"]
    assert call(server, "/stats", queue="refused")["tasks"] == 0


# -- large payloads ---------------------------------------------------------------------------------


def test_large_payload_goes_through_the_datastore(server: EmulatorHandle) -> None:
    wait_for(lambda: call(server, "/entities")["count"] == 0, what="no leftover payload entities")
    tag = uid("large")
    task = call(server, "/large", tag=tag, countdown=1)
    assert task["entities"] == 1, "the payload entity exists before the task runs"
    [run] = wait_runs(server, tag, 1)
    assert run["info"] == {"size": 200 * 1024}
    assert run["headers"]["x-appengine-taskname"] == task["name"]
    wait_for(lambda: call(server, "/entities")["count"] == 0, what="payload entity deleted after the run")


def test_large_payload_in_a_transaction_commits_with_its_task(server: EmulatorHandle) -> None:
    wait_for(lambda: call(server, "/entities")["count"] == 0, what="no leftover payload entities")
    tag = uid("txn")
    result = call(server, "/large_txn", tag=tag, countdown=1)
    assert result["model"] and result["entities"] == 1
    assert call(server, "/stats", queue="txn")["tasks"] == 1
    wait_runs(server, tag, 1)
    wait_for(lambda: call(server, "/entities")["count"] == 0, what="payload entity deleted after the run")


def test_large_payload_in_a_rolled_back_transaction_leaves_nothing(server: EmulatorHandle) -> None:
    wait_for(lambda: call(server, "/entities")["count"] == 0, what="no leftover payload entities")
    tag = uid("rollback")
    result = call(server, "/large_txn", tag=tag, rollback=1)
    assert result == {"task": None, "entities": 0, "model": False}
    assert call(server, "/stats", queue="txn")["tasks"] == 0
    time.sleep(0.3)
    assert runs(server, tag) == []


# -- task options -----------------------------------------------------------------------------------


def test_task_options_pass_through(server: EmulatorHandle) -> None:
    tag = uid("options")
    name = uid("name")
    task = call(server, "/passthrough", tag=tag, name=name)
    assert task["name"] == name and task["queue"] == "foo"
    [run] = wait_runs(server, tag, 1)
    h = run["headers"]
    assert h["x-appengine-taskname"] == name
    assert h["x-appengine-queuename"] == "foo"
    assert h["x-custom"] == "custom-value"
    assert run["content_type"] == "application/octet-stream"
    assert run["module"] == "worker"
    assert run["at"] >= task["eta"]


# -- failures ---------------------------------------------------------------------------------------


def test_permanent_failure_is_not_retried(server: EmulatorHandle) -> None:
    tag = uid("permanent")
    call(server, "/failure", kind="permanent", tag=tag)
    wait_runs(server, tag, 1)
    wait_queue_empty(server, "fail")
    time.sleep(0.5)  # the queue's backoff is 0.1 s: a retry would have happened by now
    assert len(runs(server, tag)) == 1


def test_singular_failure_is_retried_with_408(server: EmulatorHandle) -> None:
    tag = uid("singular")
    call(server, "/failure", kind="singular", tag=tag)
    got = wait_runs(server, tag, 3)
    assert [r["info"]["retry"] for r in got] == [0, 1, 2]
    assert [r["headers"].get("x-appengine-taskpreviousresponse") for r in got] == [None, "408", "408"]
    wait_queue_empty(server, "fail")


def test_other_exception_is_retried_with_500(server: EmulatorHandle) -> None:
    tag = uid("other")
    call(server, "/failure", kind="other", tag=tag)
    got = wait_runs(server, tag, 2)
    assert [r["headers"].get("x-appengine-taskpreviousresponse") for r in got] == [None, "500"]
    wait_queue_empty(server, "fail")
    assert any("transient trouble" in line for line in server.output), "the traceback is logged"


# -- the handler's gate -----------------------------------------------------------------------------


def test_outside_post_is_refused_before_unpickling(server: EmulatorHandle) -> None:
    tag = uid("outsider")
    body = MARKER_PICKLE.format(tag=tag).encode()
    headers = {"Content-Type": "application/octet-stream", "X-AppEngine-TaskName": "forged"}
    anonymous = HttpClient(server.url)
    assert anonymous.post(DEFERRED_URL, body, headers=headers).status == 302
    user = HttpClient(server.url)
    user.login("user@example.com", admin=False)
    assert user.post(DEFERRED_URL, body, headers=headers).status == 401
    time.sleep(0.2)
    assert runs(server, tag) == []


def test_admin_get_is_405_and_post_without_task_name_is_403(server: EmulatorHandle) -> None:
    tag = uid("admin")
    body = MARKER_PICKLE.format(tag=tag).encode()
    admin = HttpClient(server.url)
    admin.login("admin@example.com", admin=True)
    got = admin.get(DEFERRED_URL)
    assert got.status == 405
    assert got.headers.get("Allow") == "POST"
    refused = admin.post(DEFERRED_URL, body, headers={"Content-Type": "application/octet-stream"})
    assert refused.status == 403
    assert "X-AppEngine-Taskname" in refused.text
    time.sleep(0.2)
    assert runs(server, tag) == []
    # Control: the same body with the header (administrators may set it) is unpickled, so the
    # refusals above are meaningful.
    allowed = admin.post(DEFERRED_URL, body, headers={"Content-Type": "application/octet-stream",
                                                      "X-AppEngine-TaskName": "by-hand"})
    assert allowed.status == 200
    assert len(runs(server, tag)) == 1


# -- restart ----------------------------------------------------------------------------------------


def test_datastore_and_deferred_results_survive_a_restart(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with emulator(APP, storage_path=storage) as first:
        # The seed's function reads, adds and puts without a transaction: two tasks of it running
        # at the same moment lose an update (on App Engine too), so the second one waits a little.
        key = call(first, "/seed", countdown=0.5)["key"]
        wait_for(lambda: call(first, "/model", key=key)["total"] == 40, what="total 40")
    with emulator(APP, storage_path=storage) as second:
        assert call(second, "/model", key=key)["total"] == 40
        time.sleep(0.3)
        assert call(second, "/model", key=key)["total"] == 40, "tasks that ran must not run again"
