"""The user's path: sample_app under the real server, driven through the pytest plugin's fixture,
exactly as README.md shows a user writing their own integration tests."""
from __future__ import annotations

import pytest

from gae_emu.testing import HttpClient

pytestmark = pytest.mark.gae_emu_app("sample_app", "sample_app/worker.yaml")


def defer(gae_emu, kind: str):
    return gae_emu.client.post("/defer", {"kind": kind})


def test_deferred_adds_twenty(gae_emu):
    assert defer(gae_emu, "default").status_code == 303
    gae_emu.wait_until_idle(timeout=10)
    assert gae_emu.client.get("/total").text == "20"


def test_post_redirect_get_so_a_reload_does_not_defer_again(gae_emu):
    page = gae_emu.client.post("/defer", {"kind": "default"}, allow_redirects=True)
    assert [r.status_code for r in page.history] == [303] and "Deferred: default" in page.text
    gae_emu.wait_until_idle(timeout=10)
    reloaded = gae_emu.client.get(page.url)  # what the browser's reload sends
    gae_emu.wait_until_idle(timeout=10)
    assert reloaded.status_code == 200 and gae_emu.client.get("/total").text == "20"


def test_countdown_task_waits_until_run_by_hand(gae_emu):
    defer(gae_emu, "foo")  # +20 on queue foo in 60 s
    gae_emu.wait_until_idle(timeout=10)  # nothing is due: returns at once
    assert gae_emu.client.get("/total").text == "0"
    (task,) = gae_emu.tasks("foo")
    assert task["deferred"] and "do_something_later" in task["deferred"]["callable"]
    assert gae_emu.run_task("foo", task["name"])["status"] == 200
    assert gae_emu.client.get("/total").text == "20"
    assert gae_emu.tasks("foo") == []


@pytest.mark.gae_emu_app("sample_app", args=["--no-enable-task-running"])
def test_named_task_twice_then_tombstoned(gae_emu):
    assert defer(gae_emu, "named").status_code == 303
    again = defer(gae_emu, "named")
    assert again.status == 409 and "TaskAlreadyExistsError" in again.text
    gae_emu.run_all(timeout=10)
    after = defer(gae_emu, "named")
    assert after.status == 409 and "TombstonedTaskError" in after.text
    assert gae_emu.client.get("/total").text == "1"


def test_large_payload_travels_through_the_datastore(gae_emu):
    assert defer(gae_emu, "large").status_code == 303
    gae_emu.wait_until_idle(timeout=10)
    assert gae_emu.client.get("/total").text == "150"
    kinds = gae_emu._api("GET", "/datastore/kinds")["kinds"]
    assert "_DeferredTaskEntity" not in kinds  # deleted after the run


def test_worker_target_is_reached(gae_emu):
    assert defer(gae_emu, "worker").status_code == 303
    gae_emu.wait_until_idle(timeout=10)
    assert "<td>added 5 to counter</td><td>worker</td>" in gae_emu.client.get("/").text


def test_reset_empties_datastore_and_queues(gae_emu):
    defer(gae_emu, "default")
    defer(gae_emu, "foo")
    gae_emu.wait_until_idle(timeout=10)
    assert gae_emu.client.get("/total").text == "20"
    gae_emu.reset()
    assert gae_emu.client.get("/total").text == "0"
    assert gae_emu.tasks("foo") == []


@pytest.mark.gae_emu_app("sample_app", args=["--no-enable-task-running"])
def test_paused_queue_runs_only_when_asked(gae_emu):
    defer(gae_emu, "default")
    gae_emu.wait_until_idle(timeout=5)
    assert gae_emu.client.get("/total").text == "0"
    assert len(gae_emu.tasks("default")) == 1
    gae_emu.run_all(timeout=10)
    assert gae_emu.client.get("/total").text == "20"


def test_login_pages_and_admin_console_on_the_app_port(gae_emu):
    client = gae_emu.client
    assert client.get("/account").status == 302
    assert client.get("/_ah/admin").status == 302
    client.login("user@example.com")
    assert "user@example.com" in client.get("/account").text
    assert client.get("/admin-only").status == 401
    assert client.get("/_ah/admin").status == 401
    client.login("boss@example.com", admin=True)
    assert client.get("/admin-only").status == 200
    assert client.get("/_ah/admin/queues").status == 200


def test_admin_console_refuses_forged_posts_and_foreign_hosts(gae_emu):
    defer(gae_emu, "foo")
    (task,) = gae_emu.tasks("foo")
    console = HttpClient(gae_emu.admin_url)
    no_token = console.post(f"/queues/foo/tasks/{task['name']}/delete", {})
    assert no_token.status in (400, 403)
    assert len(gae_emu.tasks("foo")) == 1
    foreign = console.get("/queues", headers={"Host": "evil.example"})
    assert foreign.status == 400
