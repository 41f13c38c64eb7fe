"""The pytest plugin as a user meets it: a project with an app and its tests, run by a real pytest
in a subprocess from the app's folder and from its parent; the inner tests use the handle as
requests users expect (responses, attribute-style tasks) and the shared emulator."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

APP_YAML = """\
runtime: python27
api_version: 1
threadsafe: true
handlers:
- url: /_ah/queue/deferred
  script: google.appengine.ext.deferred.deferred.application
  login: admin
- url: /.*
  script: myapp_main.app
"""

MAIN = '''
import json
from gae_emu.ext import db, deferred

class Counter(db.Model):
    n = db.IntegerProperty()

def bump(key_name, by):
    counter = Counter.get_by_key_name(key_name) or Counter(key_name=key_name, n=0)
    counter.n += by
    counter.put()

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/go":
        start_response("302 Found", [("Location", "/hello?from=go")])
        return [b""]
    if path == "/defer":
        task = deferred.defer(bump, "c", 5, _queue="default", _countdown=60)
        body = task.name
    elif path == "/put":
        Counter(n=1).put()
        body = "ok"
    elif path == "/count":
        body = str(Counter.all().count())
    else:
        body = json.dumps({"hello": "world", "query": environ.get("QUERY_STRING", "")})
    start_response("200 OK", [("Content-Type", "application/json; charset=utf-8"), ("X-Custom", "yes")])
    return [body.encode()]
'''

TESTS = '''
import datetime
import pytest

pytestmark = pytest.mark.gae_emu_app(".")
SEEN = []


def test_requests_like_responses(gae_emu):
    resp = gae_emu.client.get("/hello", params={"a": "1"})
    assert (resp.status_code, resp.status, resp.ok) == (200, 200, True)
    assert resp.json() == {"hello": "world", "query": "a=1"}
    assert resp.content == resp.body and resp.text.startswith('{"hello"')
    assert resp.headers["x-custom"] == resp.headers["X-CUSTOM"] == "yes"
    assert resp.url == gae_emu.url + "/hello?a=1" and resp.history == []
    moved = gae_emu.client.get("/go")
    assert moved.status_code == 302 and moved.headers["location"] == "/hello?from=go"
    followed = gae_emu.client.get("/go", allow_redirects=True)
    assert followed.status_code == 200 and followed.json()["query"] == "from=go"
    assert [r.status_code for r in followed.history] == [302] and followed.url == gae_emu.url + "/hello?from=go"


def test_tasks_have_attributes(gae_emu):
    name = gae_emu.client.post("/defer").text
    (task,) = gae_emu.tasks("default")
    assert (task.name, task.queue, task.url, task.retry_count) == (name, "default", "/_ah/queue/deferred", 0)
    assert task["name"] == name  # the old dict form
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now + datetime.timedelta(seconds=50) < task.eta < now + datetime.timedelta(seconds=70)
    assert task.payload.startswith(b"\\x80") and task.headers["content-type"] == "application/octet-stream"
    assert task.deferred.callable == "myapp_main.bump" and task.deferred.args == ["'c'", "5"]
    assert str(task.deferred) == "myapp_main.bump('c', 5)"


@pytest.mark.parametrize("round", [1, 2])
def test_shared_emulator_is_reset_between_tests(gae_emu_shared, round):
    SEEN.append(gae_emu_shared.url)
    assert gae_emu_shared.client.get("/count").text == "0"
    gae_emu_shared.client.post("/put")
    gae_emu_shared.client.login("someone@example.com")
    assert gae_emu_shared.client.get("/count").text == "1"
    if round == 2:
        assert SEEN[0] == SEEN[1]  # one process for both tests
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "myapp"
    app.mkdir()
    (app / "app.yaml").write_text(APP_YAML)
    (app / "myapp_main.py").write_text(MAIN)
    (app / "test_myapp.py").write_text(textwrap.dedent(TESTS))
    return tmp_path


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_plugin_from_the_parent_folder(project):
    """`pytest myapp/test_myapp.py` from the parent: "." is the test file's folder, not the cwd."""
    result = run_pytest(project, "myapp/test_myapp.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_plugin_from_the_test_folder(project):
    result = run_pytest(project / "myapp", "test_myapp.py", "-k", "responses or tasks")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_missing_app_path_names_both_places_tried(project):
    (project / "myapp" / "test_missing.py").write_text(
        "import pytest\n\n@pytest.mark.gae_emu_app('nowhere')\ndef test_x(gae_emu):\n    pass\n")
    result = run_pytest(project, "myapp/test_missing.py")
    assert result.returncode == 1
    assert f"gae_emu_app('nowhere'): no such app beside the test ({project / 'myapp' / 'nowhere'}) nor in the rootdir" in result.stdout


FAILING = '''
import pytest


@pytest.mark.gae_emu_app(".")
def test_a_page_that_raises(gae_emu):
    assert gae_emu.client.get("/explode").status_code == 200


@pytest.mark.gae_emu_app(".")
def test_a_task_that_keeps_failing(gae_emu_shared):
    gae_emu_shared.client.get("/defer-failing")
    gae_emu_shared.wait_until_idle(timeout=2)
'''

FAILING_MAIN = MAIN.replace('''    if path == "/go":''', '''    if path == "/explode":
        raise ZeroDivisionError("the page's own error")
    if path == "/defer-failing":
        deferred.defer(fail_always, 7)
    if path == "/go":''') + '''

def fail_always(n):
    raise RuntimeError("the task's own error %d" % n)
'''


def test_a_failed_test_shows_the_apps_traceback_and_the_stuck_call(project):
    """What the app printed while a test ran is in that test's failure report (as captured stdout
    is); a task that never succeeds is named by its call."""
    (project / "myapp" / "myapp_main.py").write_text(FAILING_MAIN)
    (project / "myapp" / "test_failing.py").write_text(FAILING)
    result = run_pytest(project, "myapp/test_failing.py")
    assert result.returncode == 1
    report = result.stdout
    assert "2 failed" in report, report
    assert "gae-emu output (call)" in report
    assert "ZeroDivisionError: the page's own error" in report
    assert "RuntimeError: the task's own error 7" in report
    assert "call=myapp_main.fail_always(7)" in report
