"""No deferred task is lost to start-up order (issue 12, item 1): tasks still queued when the server
starts again (after SIGKILL, a plain stop, or a file edit under --reload) all run, for a classic app
(in the emulator's process) and a python3 app (in its instance). Each task appends its id to a file
of the app's folder; duplicates are allowed (at-least-once), missing ids are not."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from gae_emu.testing import emulator, wait_for

N = 200

CLASSIC_YAML = """\
runtime: python27
api_version: 1
threadsafe: true
handlers:
- url: /_ah/queue/deferred
  script: google.appengine.ext.deferred.deferred.application
  login: admin
- url: /.*
  script: restartapp.app
"""
# The one handler both apps have: /enqueue?n=&base= defers record("t<base>".."t<base+n-1>").
ENQUEUE = '''
import restarttasks

def {name}(environ, start_response):
    if environ["PATH_INFO"] == "/enqueue":
        query = dict(p.split("=") for p in environ["QUERY_STRING"].split("&"))
        n, base = int(query["n"]), int(query.get("base", 0))
        for i in range(base, base + n):
            deferred.defer(restarttasks.record, "t%d" % i, _countdown=1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''
CLASSIC_MAIN = "from gae_emu.ext import deferred\n" + ENQUEUE.format(name="app")
PY3_YAML = """\
runtime: python312
app_engine_apis: true
handlers:
- url: /_ah/queue/deferred
  script: auto
  login: admin
"""
PY3_MAIN = ("from google.appengine.api import wrap_wsgi_app\nfrom google.appengine.ext import deferred\n"
            + ENQUEUE.format(name="wsgi") + "\napp = wrap_wsgi_app(wsgi, use_deferred=True)\n")
TASKS = '''
import os
LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran.log")

def record(task_id):
    with open(LOG, "a") as out:
        out.write(task_id + "\\n")
'''


def make_app(root: Path, kind: str) -> Path:
    root.mkdir(parents=True)
    main, yaml_text = (CLASSIC_MAIN, CLASSIC_YAML) if kind == "classic" else (PY3_MAIN, PY3_YAML)
    (root / ("restartapp.py" if kind == "classic" else "main.py")).write_text(textwrap.dedent(main))
    (root / "restarttasks.py").write_text(textwrap.dedent(TASKS))
    (root / "app.yaml").write_text(yaml_text)
    return root


def ran(root: Path) -> set:
    log = root / "ran.log"
    return set(log.read_text().split()) if log.exists() else set()


@pytest.mark.parametrize("kind", ["classic", "python3"])
def test_tasks_pending_at_a_sigkill_all_run_after_the_restart(tmp_path, kind):
    if kind == "python3":
        pytest.importorskip("google.appengine.api")
    root = make_app(tmp_path / kind, kind)
    storage = tmp_path / "storage"
    with emulator(root, storage_path=storage, args=["--no-enable-task-running"]) as emu:
        assert emu.client.get(f"/enqueue?n={N}", timeout=120).status == 200
        assert len(emu.tasks("default")) == N
        emu.process.kill()  # SIGKILL: no clean stop
        emu.process.wait()
    assert ran(root) == set()
    with emulator(root, storage_path=storage):
        # the tasks' countdown may not have passed yet, so "idle" is not the signal: their runs are
        wait_for(lambda: len(ran(root)) >= N, timeout=120, what="every pending task run after the restart")
    assert ran(root) == {f"t{i}" for i in range(N)}


@pytest.mark.parametrize("kind", ["classic", "python3"])
def test_tasks_pending_across_a_reload_edit_all_run(tmp_path, kind):
    """A classic app's edit restarts the server; a python3 app's restarts only its instance, and the
    tasks due meanwhile wait for it."""
    if kind == "python3":
        pytest.importorskip("google.appengine.api")
    root = make_app(tmp_path / kind, kind)
    with emulator(root, storage_path=tmp_path / "storage", args=["--reload"]) as emu:
        assert emu.client.get("/enqueue?n=100", timeout=120).status == 200
        time.sleep(1.1)
        main = root / ("restartapp.py" if kind == "classic" else "main.py")
        main.write_text(main.read_text() + "\n# edited\n")  # a restart with tasks queued
        wait_for(lambda: len(ran(root)) == 100, timeout=90, what="every task run after the reload")
    assert ran(root) == {f"t{i}" for i in range(100)}
