"""queue.yaml through the real server: `--enforce-queue-rates` (a 4/s queue with bucket_size 1
spreads its tasks) and edits that apply while the server runs."""
from __future__ import annotations

import textwrap
import time

from gae_emu.testing import emulator, wait_for

APP = '''
import os, time
from gae_emu.api import taskqueue

def app(environ, start_response):
    if environ["PATH_INFO"] == "/add":
        queue = environ.get("QUERY_STRING", "").partition("=")[2] or "slow"
        try:
            taskqueue.Queue(queue).add([taskqueue.Task(payload=b"x") for _ in range(5)])
        except taskqueue.UnknownQueueError:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"unknown queue"]
    elif environ["PATH_INFO"] == "/_ah/queue/slow":
        with open(os.environ["RUN_LOG"], "a") as log:
            log.write("%f\\n" % time.time())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def make_app(root):
    root.mkdir()
    (root / "rates_main.py").write_text(APP)
    (root / "app.yaml").write_text(textwrap.dedent("""\
        runtime: python27
        api_version: 1
        threadsafe: true
        handlers:
        - url: /.*
          script: rates_main.app
        """))
    (root / "queue.yaml").write_text("queue:\n- name: slow\n  rate: 4/s\n  bucket_size: 1\n")
    return root


def run_times(tmp_path, *args):
    root = make_app(tmp_path / "app")
    log = tmp_path / "runs.txt"
    with emulator(root, args=["--env-var", f"RUN_LOG={log}", *args]) as emu:
        assert emu.client.get("/add").status == 200
        deadline = time.time() + 15
        while time.time() < deadline and (not log.exists() or len(log.read_text().split()) < 5):
            time.sleep(0.05)
    return [float(t) for t in log.read_text().split()]


def test_enforced_rate_spreads_tasks(tmp_path):
    times = run_times(tmp_path, "--enforce-queue-rates")
    assert len(times) == 5
    assert max(times) - min(times) >= 0.9  # 5 tasks at 4/s with a bucket of 1: at least 4 gaps of 0.25 s


def test_rates_ignored_by_default(tmp_path):
    times = run_times(tmp_path)
    assert len(times) == 5
    assert max(times) - min(times) < 0.9


def test_queue_yaml_edits_apply_without_restart(tmp_path):
    root = make_app(tmp_path / "app")
    with emulator(root, args=["--no-enable-task-running"]) as emu:
        assert emu.client.get("/add?queue=later").status == 404
        (root / "queue.yaml").write_text("queue:\n- name: slow\n  rate: 4/s\n- name: later\n  rate: 1/s\n")
        wait_for(lambda: emu.client.get("/add?queue=later").status == 200, what="queue 'later' to appear")
        assert len(emu.tasks("later")) == 5
        (root / "queue.yaml").write_text("queue:\n- name: slow\n  rate: [broken\n")  # a bad save mid-edit
        time.sleep(0.7)
        assert emu.client.get("/add?queue=later").status == 200  # the last good config stays
