"""The admin JSON API end to end, through `gae_emu.testing.emulator` and its EmulatorHandle."""
from __future__ import annotations

import json
import time

import pytest

from gae_emu.testing import EmulatorError, StuckTasksError

API_HEADERS = {"X-Requested-With": "test", "Content-Type": "application/json"}


def count(handle, name="c"):
    return handle.client.get(f"/count?name={name}").json()["count"]


def test_tasks_lists_a_deferred_task_described_without_running_it(paused):
    name = paused.client.get("/defer?name=c&amount=3&label=hi").json()["task"]
    (task,) = paused.tasks("default")
    assert task["name"] == name
    assert task["queue"] == "default"
    assert task["url"] == "/_ah/queue/deferred"
    assert task["retry_count"] == 0 and task["execution_count"] == 0 and task["last_response"] is None
    assert task["payload_size"] > 0
    assert ["Content-Type", "application/octet-stream"] in task["headers"]
    assert task["deferred"] == {"callable": "admin_test_main.increment", "args": ["'c'", "3"],
                                "kwargs": {"label": "'hi'"}}
    assert count(paused) is None  # paused: nothing ran


def test_queues_show_counts_and_mode(paused):
    paused.client.get("/defer?amount=1")
    paused.client.get("/defer?amount=1&queue=later&countdown=600")
    queues = {q["name"]: q for q in paused.queues()}
    assert queues["default"]["tasks"] == 1 and queues["later"]["tasks"] == 1
    assert queues["default"]["mode"] == "push" and queues["default"]["rate"] == "5/s"
    assert queues["later"]["oldest_eta"] > time.time() + 500
    assert {"in_flight", "executed_last_minute", "failures", "failing"} <= set(queues["default"])


def test_run_task_runs_one_task_now_whatever_its_eta(paused):
    first = paused.client.get("/defer?name=c&amount=5&queue=later&countdown=3600").json()["task"]
    paused.client.get("/defer?name=other&amount=1")
    assert paused.run_task("later", first) == {"status": 200}
    assert count(paused) == 5
    assert paused.tasks("later") == []
    assert len(paused.tasks("default")) == 1  # only the named task ran
    assert first in [t["name"] for t in paused._api("GET", "/queues/later/tombstones")["tombstones"]]
    stats = {q["name"]: q for q in paused.queues()}
    assert stats["later"]["executed_last_minute"] == 1


def test_run_task_failure_is_a_normal_attempt_and_is_retried(paused):
    name = paused.client.get("/defer-flaky?name=f").json()["task"]
    assert paused.run_task("default", name) == {"status": 500}
    (task,) = paused.tasks("default")
    assert task["retry_count"] == 1 and task["execution_count"] == 1 and task["last_response"] == 500
    assert paused.run_task("default", name) == {"status": 200}
    assert paused.tasks("default") == []


def test_run_task_of_unknown_task_or_queue_is_an_error(paused):
    with pytest.raises(EmulatorError, match="404"):
        paused.run_task("default", "nope")
    with pytest.raises(EmulatorError, match="404"):
        paused.tasks("no-such-queue")


def test_run_all_runs_due_tasks_while_task_running_is_paused(paused):
    for amount in (1, 2, 3):
        paused.client.get(f"/defer?name=c&amount={amount}")
    paused.client.get("/defer?name=c&amount=100&queue=later&countdown=3600")
    paused.run_all(timeout=20)
    assert count(paused) == 6  # the countdown task is not due yet
    assert [t["queue"] for t in paused.tasks("later")] == ["later"]
    assert paused.tasks("default") == []


def test_run_all_waits_out_a_retry_backoff(paused):
    paused.client.get("/defer-flaky?name=flaky")
    paused.run_all(timeout=5)  # the first attempt fails; its retry runs after a 0.1 s backoff
    assert count(paused, "flaky") == 2 and paused.tasks("default") == []


def test_run_all_raises_listing_the_stuck_tasks(paused):
    name = paused.client.get("/defer-failing").json()["task"]  # queue "hot" retries at once, forever
    with pytest.raises(StuckTasksError) as info:
        paused.run_all(timeout=1)
    assert f"hot/{name}" in str(info.value) and "last=500" in str(info.value)
    paused.purge("hot")


def test_wait_until_idle_when_paused_means_nothing_in_flight(paused):
    paused.client.get("/defer?name=c")
    paused.wait_until_idle(timeout=2)  # a due task waits, but nothing runs: idle
    assert len(paused.tasks("default")) == 1


def test_wait_until_idle_with_task_running(running):
    # One counter per task: the tasks run concurrently, and the app's increment is not transactional.
    for i in range(5):
        running.client.get(f"/defer?name=c{i}&amount=2")
    running.wait_until_idle(timeout=20)
    assert [count(running, f"c{i}") for i in range(5)] == [2] * 5
    assert running.tasks("default") == []


def test_wait_until_idle_ignores_tasks_not_due_and_raises_for_stuck_ones(running):
    running.client.get("/defer?name=never&queue=later&countdown=3600")
    running.wait_until_idle(timeout=5)  # a countdown task is not due: idle
    name = running.client.get("/defer-failing").json()["task"]
    with pytest.raises(StuckTasksError, match=f"hot/{name}"):
        running.wait_until_idle(timeout=1)
    running.purge("hot")


def test_console_delete_discards_the_tombstone(paused):
    """B6: the admin console's DeleteTask discards the name, so it can be added again."""
    assert paused.client.get("/defer?name=c&task=again").json()["task"] == "again"
    paused.delete_task("default", "again")
    assert paused.tasks("default") == []
    tombstones = paused._api("GET", "/queues/default/tombstones")["tombstones"]
    assert "again" not in [t["name"] for t in tombstones]
    assert paused.client.get("/defer?name=c&task=again").json()["task"] == "again"
    paused.delete_task("default", "again")


def test_purge_removes_tasks_and_clears_tombstones(paused):
    named = paused.client.get("/defer?name=c&task=once").json()["task"]
    assert named == "once"
    paused.client.get("/defer?name=c")
    paused.purge("default")
    assert paused.tasks("default") == []
    assert paused._api("GET", "/queues/default/tombstones")["tombstones"] == []
    # With its tombstone gone the name can be used again (an API purge would keep it).
    assert paused.client.get("/defer?name=c&task=once").json()["task"] == "once"


def test_reset_empties_datastore_queues_and_tombstones(paused):
    paused.client.get("/seed")
    name = paused.client.get("/defer?name=c").json()["task"]
    paused.run_task("default", name)
    paused.client.get("/defer?name=c")
    paused.reset()
    assert paused.tasks("default") == []
    assert paused._api("GET", "/queues/default/tombstones")["tombstones"] == []
    assert paused._api("GET", "/datastore/namespaces")["namespaces"] == []


def test_datastore_listing_paging_view_edit_delete(paused, admin):
    for i in range(5):
        paused.client.get(f"/defer?name=n{i}&amount={i}")
    paused.run_all(timeout=20)
    assert admin.get("/api/datastore/namespaces").json() == {"namespaces": [""]}
    assert admin.get("/api/datastore/kinds?namespace=").json()["kinds"] == ["Counter"]
    page = admin.get("/api/datastore/entities?kind=Counter&offset=2&limit=2").json()
    assert page["total"] == 5 and [e["name"] for e in page["entities"]] == ["n2", "n3"]
    key = page["entities"][0]["key"]
    entity = admin.get(f"/api/datastore/entity/{key}").json()
    props = {p["name"]: p for p in entity["properties"]}
    assert props["count"]["type"] == "int" and props["count"]["value"] == 2
    edited = admin.post(f"/api/datastore/entity/{key}", data=json.dumps(
        {"properties": {"count": "41", "label": "changed"}}), headers=API_HEADERS)
    assert edited.status == 200, edited.text
    assert count(paused, "n2") == 41
    assert paused.client.get("/count?name=n2").json()["label"] == "changed"
    bad = admin.post(f"/api/datastore/entity/{key}", data=json.dumps({"properties": {"count": "x"}}),
                     headers=API_HEADERS)
    assert bad.status == 400 and "int" in bad.json()["error"]
    assert admin.post(f"/api/datastore/entity/{key}/delete", headers=API_HEADERS).status == 200
    assert count(paused, "n2") is None
    assert admin.get(f"/api/datastore/entity/{key}").status == 404
    assert admin.get("/api/datastore/entity/not-a-key").status == 400


def test_request_log_lists_requests(paused, admin):
    paused.client.get("/count?name=logged")
    requests = admin.get("/api/requests").json()["requests"]
    assert any(r["path"] == "/count?name=logged" and r["status"] == 200 for r in requests)


def test_same_api_under_ah_admin_on_the_admin_port(paused, admin):
    assert admin.get("/_ah/admin/api/queues").json()["queues"]
    assert admin.get("/api/queues").json()["task_running"] is False


def test_unknown_api_path_is_a_json_404(admin):
    response = admin.get("/api/nothing")
    assert response.status == 404 and response.json()["status"] == 404


@pytest.mark.parametrize("query", ["offset=nan", "offset=inf", "limit=1e400", f"offset={2 ** 64}", "limit=-0x1", "offset=%00"])
def test_malformed_numbers_are_400_with_a_json_error(admin, query):
    response = admin.get(f"/api/queues/default/tasks?{query}")
    assert response.status == 400 and "must be an integer" in response.json()["error"], response.text


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"timeout": NaN}', b'{"timeout": "\\ud800"}',
                                  b'{"timeout": Infinity}', b"\xff\xfe", b'{"timeout": [1]}'])
def test_malformed_json_bodies_are_400_with_a_json_error(admin, body):
    response = admin.post("/api/run-due", data=body, headers={"X-Requested-With": "test",
                                                              "Content-Type": "application/json"})
    assert response.status == 400, response.text
    assert response.json()["status"] == 400


def test_request_log_records_service_user_and_headers(paused, admin):
    paused.client.login("logged@example.com")
    paused.client.get("/count?name=headers", headers={"X-Probe": "in"})
    paused.client.logout()
    (record,) = [r for r in admin.get("/api/requests").json()["requests"] if r["path"] == "/count?name=headers"]
    assert (record["service"], record["user"]) == ("default", "logged@example.com")
    assert ["X-Probe", "in"] in record["headers_in"] and ["Content-Type", "application/json"] in record["headers_out"]
    page = admin.get("/requests", params={"user": "logged@", "status": "2xx"}).text
    assert "/count?name=headers" in page and "/_ah/logout" not in page
    assert "X-Probe" in admin.get(f"/requests/{record['id']}").text
    assert admin.get("/requests/999999999").status_code == 404


def test_gql_box_runs_a_select(paused, admin):
    pytest.importorskip("grpc", reason="the GQL box needs the [cloud] extra")
    paused.client.get("/seed")
    page = admin.get("/datastore", params={"gql": "SELECT * FROM Counter WHERE count = 7"}).text
    assert "1 result(s)" in page and "shown" in page and "&lt;script&gt;" in page and "<script>alert" not in page
    assert "0 result(s)" in admin.get("/datastore", params={"gql": "SELECT * FROM Counter WHERE count > 7"}).text
    bad = admin.get("/datastore", params={"gql": "SELECT * FROM Counter WHERE count =="}).text
    assert 'class="gql-error error">GQL: ' in bad


def test_new_entity_form_refuses_overwrites_and_needs_the_token(paused, admin, token_of):
    token = token_of(admin, "/datastore")
    fields = {"xsrf_token": token, "kind": "Counter", "name": "fresh", "prop.0": "count", "type.0": "int", "value.0": "3"}
    assert admin.post("/datastore/new", fields).status_code == 303
    assert paused.client.get("/count?name=fresh").json()["count"] == 3
    again = admin.post("/datastore/new", {**fields, "value.0": "9"})
    assert again.status_code == 400 and paused.client.get("/count?name=fresh").json()["count"] == 3
    assert admin.post("/datastore/new", {k: v for k, v in fields.items() if k != "xsrf_token"}).status_code == 403
    auto = admin.post("/datastore/new", {**fields, "name": ""})
    assert auto.status_code == 303 and "/datastore/entity/" in auto.headers["location"]
