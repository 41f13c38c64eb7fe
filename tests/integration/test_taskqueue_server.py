"""Push tasks through the real `gae-emu dev`: headers, retries and backoff, limits, login rules,
targets, countdowns, names and tombstones, isolation of a hung queue, and SIGKILL restarts.

The test app (tests/integration/apps/tq) enqueues tasks on request and records every task request
its handlers receive in the datastore; the tests read those records back over HTTP, polling with
bounded waits.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlparse

import pytest

from gae_emu.testing import EmulatorHandle, emulator, wait_for

APP = Path(__file__).parent / "apps" / "tq"
USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)"


# -- helpers ----------------------------------------------------------------------------------------


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def enqueue(handle: EmulatorHandle, queue: str = "default", **task: Any) -> Dict[str, Any]:
    """Add a task from inside the app; returns {"name", "eta"} or {"error", "message", "bases"}."""
    import json

    resp = handle.client.post("/enqueue", json.dumps({"queue": queue, "task": task}),
                              headers={"Content-Type": "application/json"})
    assert resp.status == 200, resp.text
    return resp.json()


def added(handle: EmulatorHandle, queue: str = "default", **task: Any) -> Dict[str, Any]:
    result = enqueue(handle, queue, **task)
    assert "error" not in result, result
    return result


def runs(handle: EmulatorHandle, tag: str) -> List[Dict[str, Any]]:
    resp = handle.client.get(f"/runs?tag={tag}")
    assert resp.status == 200, resp.text
    return resp.json()


def stats(handle: EmulatorHandle, queue: str) -> Dict[str, int]:
    return handle.client.get(f"/stats?queue={queue}").json()


def wait_runs(handle: EmulatorHandle, tag: str, count: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
    return wait_for(lambda: (lambda r: r if len(r) >= count else None)(runs(handle, tag)), timeout,
                    f"{count} runs of {tag}")


def wait_queue_empty(handle: EmulatorHandle, queue: str, timeout: float = 10.0) -> None:
    wait_for(lambda: stats(handle, queue)["tasks"] == 0, timeout, f"queue {queue} to empty")


def kill(handle: EmulatorHandle) -> None:
    """SIGKILL: no shutdown code runs, as after a crash."""
    handle.process.kill()
    handle.process.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with emulator(APP, APP / "worker.yaml", storage_path=tmp_path_factory.mktemp("tq-storage")) as handle:
        yield handle


# -- request shape ----------------------------------------------------------------------------------


def test_push_task_request_carries_app_engine_headers(server: EmulatorHandle) -> None:
    tag = uid("headers")
    task = added(server, url=f"/task/headers/{tag}", params={"a": "1", "b": "x y"},
                 headers={"X-Custom": "yes", "X-AppEngine-QueueName": "forged", "X-AppEngine-TaskName": "forged",
                          "X-AppEngine-Foo": "dropped", "X-AppEngine-Country": "XX",
                          # the same environ keys under WSGI: reserved too
                          "X_AppEngine_QueueName": "evil", "x-appengine_taskname": "evil"})
    [run] = wait_runs(server, tag, 1)
    h = run["headers"]
    assert run["method"] == "POST"
    assert run["body"] == "a=1&b=x+y"
    assert run["content_type"] == "application/x-www-form-urlencoded"
    assert h["x-appengine-queuename"] == "default"
    assert h["x-appengine-taskname"] == task["name"]
    assert h["x-appengine-taskretrycount"] == "0"
    assert h["x-appengine-taskexecutioncount"] == "0"
    assert float(h["x-appengine-tasketa"]) == pytest.approx(task["eta"], abs=1e-3)
    assert h["user-agent"] == USER_AGENT
    assert run["remote_addr"] == "0.1.0.2"
    assert h["x-custom"] == "yes"
    # User-supplied X-AppEngine-* headers never reach the handler; the country is App Engine's own.
    assert "x-appengine-foo" not in h
    assert h["x-appengine-country"] == "ZZ"
    assert "x-appengine-taskpreviousresponse" not in h
    assert "x-appengine-taskretryreason" not in h
    assert run["module"] == "default"


def test_failing_handler_is_retried_with_queue_backoff(server: EmulatorHandle) -> None:
    tag = uid("retry")
    added(server, "retry", url="/task/retry", method="GET", params={"tag": tag, "fail_until": "2"})
    got = wait_runs(server, tag, 3)
    wait_queue_empty(server, "retry")
    time.sleep(0.3)
    got = runs(server, tag)
    assert len(got) == 3, "a task that succeeded must not run again"
    assert [r["headers"]["x-appengine-taskretrycount"] for r in got] == ["0", "1", "2"]
    assert [r["headers"]["x-appengine-taskexecutioncount"] for r in got] == ["0", "1", "2"]
    assert [r["headers"].get("x-appengine-taskpreviousresponse") for r in got] == [None, "500", "500"]
    assert [r["headers"].get("x-appengine-taskretryreason") for r in got] == [None, "App Error", "App Error"]
    # queue.yaml: min_backoff 0.3 -> retry 1 waits 0.3 s, retry 2 waits 0.6 s (B7 formula).
    gaps = [b["at"] - a["at"] for a, b in zip(got, got[1:])]
    assert 0.3 <= gaps[0] < 0.3 + 0.5, gaps
    assert 0.6 <= gaps[1] < 0.6 + 0.5, gaps


def test_gives_up_only_when_both_limits_are_exceeded(server: EmulatorHandle) -> None:
    tag = uid("both")
    task = added(server, "both-limits", url="/task/both", method="GET", params={"tag": tag, "fail_until": "1000"})
    wait_queue_empty(server, "both-limits", timeout=15)
    got = runs(server, tag)
    # task_retry_limit 2 alone would stop after 3 attempts; task_age_limit 1 s keeps it going.
    assert len(got) > 4, [r["headers"]["x-appengine-taskretrycount"] for r in got]
    span = got[-1]["at"] - got[0]["at"]
    assert 0.9 <= span < 1.0 + 0.5, span
    assert any(line.endswith(f"attempt {len(got)} failed, giving up (the retry limits are spent)")
               and f"task both-limits/{task['name']} \u2192 default /task/both" in line
               for line in server.output), list(server.output)[-5:]
    time.sleep(0.3)
    assert len(runs(server, tag)) == len(got)


def test_retry_limit_still_allows_retries_after_the_age_limit(server: EmulatorHandle) -> None:
    tag = uid("three")
    added(server, "limit-three", url="/task/three", method="GET", params={"tag": tag, "fail_until": "1000"})
    wait_runs(server, tag, 4)
    wait_queue_empty(server, "limit-three")
    time.sleep(0.5)
    got = runs(server, tag)
    assert [r["headers"]["x-appengine-taskretrycount"] for r in got] == ["0", "1", "2", "3"]


def test_task_to_login_required_handler_gets_302_and_is_retried(server: EmulatorHandle) -> None:
    tag = uid("required")
    task = added(server, "login", url="/task/required", method="GET", params={"tag": tag})
    wait_queue_empty(server, "login")
    assert runs(server, tag) == []
    # retry limit 2: three attempts, each answered by the login rule's redirect (prod semantics).
    assert any(f"task login/{task['name']} \u2192 default /task/required" in line and
               line.endswith("attempt 3 failed, giving up (the retry limits are spent)") and " 302 " in line
               for line in server.output), "\n".join(server.output[-20:])


def test_task_to_login_admin_handler_runs(server: EmulatorHandle) -> None:
    tag = uid("admin")
    added(server, url="/task/admin", method="GET", params={"tag": tag})
    [run] = wait_runs(server, tag, 1)
    assert run["headers"]["x-appengine-taskretrycount"] == "0"


# -- targets ----------------------------------------------------------------------------------------


def test_task_target_reaches_second_service(server: EmulatorHandle) -> None:
    tag = uid("target")
    added(server, url="/task/target", method="GET", params={"tag": tag}, target="worker")
    [run] = wait_runs(server, tag, 1)
    assert run["module"] == "worker"
    # Host names the worker's port (the emulator calls its services localhost:<port>).
    assert run["host"].rsplit(":", 1)[1] == str(urlparse(server.service_url("worker")).port)


def test_queue_target_reaches_second_service(server: EmulatorHandle) -> None:
    tag = uid("qtarget")
    added(server, "to-worker", url="/task/qtarget", method="GET", params={"tag": tag})
    [run] = wait_runs(server, tag, 1)
    assert run["module"] == "worker"
    assert run["headers"]["x-appengine-queuename"] == "to-worker"


def test_unknown_target_is_refused_at_add_time(server: EmulatorHandle) -> None:
    result = enqueue(server, url="/task/x", target="nosuch")
    assert "error" in result, result
    assert "nosuch" in result["message"]
    assert "default" in result["message"] and "worker" in result["message"]


# -- timing and names -------------------------------------------------------------------------------


def test_countdown_runs_at_its_eta(server: EmulatorHandle) -> None:
    tag = uid("countdown")
    task = added(server, url="/task/countdown", method="GET", params={"tag": tag}, countdown=1.0)
    assert task["eta"] > time.time() + 0.5
    [run] = wait_runs(server, tag, 1)
    assert run["at"] >= task["eta"]
    assert run["at"] - task["eta"] < 0.5
    assert float(run["headers"]["x-appengine-tasketa"]) == pytest.approx(task["eta"], abs=1e-3)


def test_named_task_already_exists_then_tombstoned(server: EmulatorHandle) -> None:
    tag = uid("named")
    name = uid("name")
    spec = dict(url="/task/named", method="GET", params={"tag": tag}, name=name, countdown=1.0)
    assert added(server, **spec)["name"] == name
    again = enqueue(server, **spec)
    assert again["error"] == "TaskAlreadyExistsError"
    assert "InvalidTaskError" in again["bases"]
    wait_runs(server, tag, 1)
    # The tombstone is written in the same transaction that removes the task.
    later = enqueue(server, **spec)
    assert later["error"] == "TombstonedTaskError"
    assert "InvalidTaskError" in later["bases"]
    time.sleep(0.3)
    assert len(runs(server, tag)) == 1


# -- isolation --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_deadline(tmp_path_factory: pytest.TempPathFactory):
    """A server whose task attempts count as failed after 1 s."""
    with emulator(APP, storage_path=tmp_path_factory.mktemp("tq-deadline"), args=["--task-deadline", "1"]) as handle:
        yield handle


def test_hanging_handler_does_not_block_another_queue(short_deadline: EmulatorHandle) -> None:
    hang = uid("hang")
    # More hung tasks than the dispatcher has workers, all on one queue (retry limit 0).
    for _ in range(12):
        added(short_deadline, "slow", url="/task/hang", method="GET", params={"tag": hang, "sleep": "4"})
    time.sleep(0.3)
    tag = uid("fast")
    start = time.time()
    added(short_deadline, "fast", url="/task/fast", method="GET", params={"tag": tag})
    [run] = wait_runs(short_deadline, tag, 1, timeout=10)
    # The hung attempts are abandoned after the 1 s deadline; the other queue must not wait for
    # the handlers to come back.
    assert run["at"] - start < 1.5, run["at"] - start


def test_hung_handlers_beyond_the_worker_pool_do_not_block_another_queue(server: EmulatorHandle) -> None:
    """Default settings (600 s deadline): more hung tasks on one queue than there are workers."""
    hang = uid("hang-default")
    for _ in range(20):
        added(server, "slow", url="/task/hang", method="GET", params={"tag": hang, "sleep": "3"})
    time.sleep(0.3)
    tag = uid("fast-default")
    start = time.time()
    added(server, "fast", url="/task/fast", method="GET", params={"tag": tag})
    [run] = wait_runs(server, tag, 1, timeout=10)
    # Workers busy for over a second are replaced, so the other queue waits about that long at most.
    assert run["at"] - start < 2.5, run["at"] - start
    wait_runs(server, hang, 20, timeout=15)


def test_attempt_past_its_deadline_is_retried_as_instance_unavailable(short_deadline: EmulatorHandle) -> None:
    tag = uid("timeout")
    # The first attempt sleeps past the deadline (it still records when it wakes up, too late).
    added(short_deadline, "retry", url="/task/timeout", method="GET", params={"tag": tag, "sleep_once": "2.5"})
    retried = wait_for(lambda: [r for r in runs(short_deadline, tag)
                                if r["headers"]["x-appengine-taskretrycount"] == "1"], what="the retry")
    h = retried[0]["headers"]
    # Production (recorded): no answer gives previous response 0, reason Instance Unavailable, and
    # is not counted as an execution.
    assert h["x-appengine-taskpreviousresponse"] == "0", h
    assert h["x-appengine-taskretryreason"] == "Instance Unavailable", h
    assert h["x-appengine-taskexecutioncount"] == "0", h
    wait_queue_empty(short_deadline, "retry")
    wait_runs(short_deadline, tag, 2)  # the abandoned first attempt finishing late changes nothing
    time.sleep(0.3)
    assert len(runs(short_deadline, tag)) == 2


# -- crash safety -----------------------------------------------------------------------------------


def test_sigkill_restart_loses_no_task_and_keeps_tombstones(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    tag = uid("kill")
    before = uid("before")
    with emulator(APP, storage_path=storage) as first:
        added(first, url="/task/before", method="GET", params={"tag": tag + "-before"}, name=before)
        wait_runs(first, tag + "-before", 1)
        # Its run is recorded by the handler itself, a moment before the queue records the
        # outcome; a crash in between runs it again (at least once), so wait for the outcome.
        wait_queue_empty(first, "default")
        kill(first)

    due = [uid("due") for _ in range(5)]
    future = [uid("future") for _ in range(2)]
    with emulator(APP, storage_path=storage, args=["--no-enable-task-running"]) as paused:
        assert enqueue(paused, url="/task/before", method="GET", name=before)["error"] == "TombstonedTaskError"
        for name in due:
            added(paused, url="/task/kill", method="GET", params={"tag": tag}, name=name)
        for _ in range(3):
            added(paused, url="/task/kill", method="GET", params={"tag": tag})
        etas = {name: added(paused, url="/task/kill", method="GET", params={"tag": tag}, name=name,
                            countdown=2.0)["eta"] for name in future}
        time.sleep(0.3)
        assert runs(paused, tag) == [], "--no-enable-task-running must not run tasks"
        assert stats(paused, "default")["tasks"] == 10
        kill(paused)

    with emulator(APP, storage_path=storage) as restarted:
        got = wait_runs(restarted, tag, 10, timeout=15)
        wait_queue_empty(restarted, "default")
        names = [r["headers"]["x-appengine-taskname"] for r in got]
        assert set(due + future) <= set(names)
        assert len(set(names)) == 10
        for run in got:
            name = run["headers"]["x-appengine-taskname"]
            if name in etas:
                assert run["at"] >= etas[name]
        for name in [before] + due + future:
            result = enqueue(restarted, url="/task/kill", method="GET", name=name)
            assert result.get("error") == "TombstonedTaskError", (name, result)


def test_sigkill_during_a_running_task_runs_it_again_and_keeps_retry_counts(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    tag = uid("inflight")
    name = uid("inflight")
    retrying = uid("backoff")
    with emulator(APP, storage_path=storage) as first:
        # Also a task waiting for its first retry (backoff 0.3 s) when the server dies.
        added(first, "retry", url="/task/backoff", method="GET", params={"tag": retrying, "fail_until": "2"})
        added(first, url="/task/inflight", method="GET", params={"tag": tag, "sleep_once": "30"}, name=name)
        wait_runs(first, retrying, 1)
        wait_runs(first, tag + "-started", 1)
        time.sleep(0.1)  # let the failed attempt's outcome commit; its retry is still 0.2 s away
        kill(first)
    with emulator(APP, storage_path=storage) as restarted:
        [run] = wait_runs(restarted, tag, 1, timeout=15)
        assert run["headers"]["x-appengine-taskname"] == name
        wait_queue_empty(restarted, "default")
        assert enqueue(restarted, url="/task/x", method="GET", name=name)["error"] == "TombstonedTaskError"
        got = wait_runs(restarted, retrying, 3)
        wait_queue_empty(restarted, "retry")
        assert [r["headers"]["x-appengine-taskretrycount"] for r in got] == ["0", "1", "2"]
