"""What `gae-emu dev` prints at the default log level: one line per task attempt, a failing task's
traceback once and a short line per retry with the next attempt time, no header dumps, no admin
console requests."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from gae_emu.testing import emulator, wait_for

APPS = Path(__file__).parent / "apps" / "console"


@pytest.mark.parametrize("kind", ["classic", "std"])
def test_a_failing_task_tells_its_story_once(kind):
    with emulator(APPS / kind) as emu:
        name = emu.client.get("/fail").text
        wait_for(lambda: any("giving up" in line for line in emu.output), timeout=30, what="the task to give up")
        assert emu.tasks("default") == []  # the admin API was used: its requests are not logged
        output = list(emu.output)
    attempts = [line for line in output if f"task default/{name} \u2192 default /_ah/queue/deferred 500 " in line]
    assert len(attempts) == 3, output  # one line per attempt: its status and time, then what comes next
    assert all(re.search(rf" 500 \d+ ms; attempt {n} failed, next at \d\d:\d\d:\d\d \(in [\d.]+ s\)$", line)
               for n, line in zip((1, 2), attempts)), attempts
    assert attempts[2].endswith(" ms; attempt 3 failed, giving up (the retry limits are spent)"), attempts
    text = "\n".join(output)
    assert text.count("Traceback (most recent call last)") == 1, text
    assert "the same traceback as before" not in text, text  # retries say so on their own line
    assert text.count("ValueError: boom 1") >= 1
    assert "X_APPENGINE_QUEUENAME" not in text and "X-AppEngine-QueueName" not in text
    assert '"GET /api/' not in text and '"POST /api/' not in text


def test_debug_shows_the_header_dump_and_admin_requests():
    with emulator(APPS / "std", args=["--log-level", "debug", "--no-enable-task-running"]) as emu:
        name = emu.client.get("/fail").text
        emu.run_task("default", name)
        # the instance's output reaches the console through a pipe: wait for it, do not race it
        wait_for(lambda: any("X_APPENGINE_QUEUENAME:default" in line for line in emu.output), timeout=10,
                 what="the header dump")
        wait_for(lambda: any(f'"POST /api/queues/default/tasks/{name}/run' in line for line in emu.output),
                 timeout=10, what="the admin request's log line")


def test_a_local_request_that_raises_gets_the_traceback_page():
    with emulator(APPS / "classic") as emu:
        resp = emu.client.get("/raise")
    assert resp.status_code == 500 and resp.headers["content-type"].startswith("text/html")
    assert "ValueError: &lt;b&gt;not markup&lt;/b&gt;" in resp.text and "<b>not markup" not in resp.text
    assert "consoleapp.py" in resp.text and "Traceback (most recent call last)" in resp.text
