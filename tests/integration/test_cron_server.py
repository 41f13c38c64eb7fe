"""cron.yaml through the real `gae-emu dev`: a job runs by itself when its time comes (the test moves
the scheduler's clock instead of waiting a minute), `run_cron` runs it on demand with the cron header
and admin access, a failing job is retried per its parameters, the Cron console page and its Run now
form, and an outside request cannot pass itself off as cron."""
from __future__ import annotations

import datetime
import json
import re
import textwrap
import time
from pathlib import Path

import pytest

from gae_emu.testing import emulator, wait_for

APP = '''
import json, os

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/tasks/fail":
        status = "500 Internal Server Error"
    else:
        status = "200 OK"
    if path.startswith("/tasks/"):
        with open(os.environ["CRON_LOG"], "a") as log:
            log.write(json.dumps({"path": path, "cron": environ.get("HTTP_X_APPENGINE_CRON"),
                                  "ip": environ.get("REMOTE_ADDR"), "method": environ["REQUEST_METHOD"],
                                  "service": os.environ.get("GAE_SERVICE", "")}) + "\\n")
    start_response(status, [("Content-Type", "text/plain")])
    return [b"ok"]
'''
CRON = """\
cron:
- description: every minute
  url: /tasks/tick
  schedule: every 1 minutes
- url: /tasks/admin-only
  schedule: every 24 hours
- url: /tasks/fail
  schedule: every 12 hours
  retry_parameters:
    job_retry_limit: 2
    min_backoff_seconds: 30
"""


def make_app(root: Path) -> Path:
    root.mkdir()
    (root / "cronapp.py").write_text(APP)
    (root / "app.yaml").write_text(textwrap.dedent("""\
        runtime: python27
        api_version: 1
        threadsafe: true
        handlers:
        - url: /tasks/admin-only
          script: cronapp.app
          login: admin
        - url: /.*
          script: cronapp.app
        """))
    (root / "cron.yaml").write_text(CRON)
    return root


def runs(log: Path, path: str) -> list:
    if not log.exists():
        return []
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["path"] == path]


@pytest.fixture
def served(tmp_path):
    root = make_app(tmp_path / "app")
    log = tmp_path / "cron.log"
    with emulator(root, args=["--env-var", f"CRON_LOG={log}"]) as emu:
        yield emu, log


def test_a_job_runs_by_itself_when_its_time_comes(served):
    emu, log = served
    tick = next(job for job in emu.cron_jobs() if job.url == "/tasks/tick")
    assert (tick.schedule, tick.description, tick.timezone, tick.last_run) == (
        "every 1 minutes", "every minute", "UTC", None)
    assert tick.next_run.tzinfo is not None
    # The parser's "every 1 minutes" is the next whole minute after now + 1 minute: it may be due in
    # under a second of real time, so "not before its time" is checked only when it is not.
    if (tick.next_run - datetime.datetime.now(datetime.timezone.utc)).total_seconds() > 3:
        time.sleep(1.5)
        assert runs(log, "/tasks/tick") == []
    emu.advance_cron_clock(60)
    wait_for(lambda: runs(log, "/tasks/tick"), timeout=10, what="the cron job to run")
    assert runs(log, "/tasks/tick")[0] == {"path": "/tasks/tick", "cron": "true", "ip": "0.1.0.1",
                                          "method": "GET", "service": ""}
    after = wait_for(lambda: next(j for j in emu.cron_jobs() if j.url == "/tasks/tick" and j.last_status),
                     what="the run to be recorded")
    assert after.last_status == 200 and after.next_run > after.last_run
    wait_for(lambda: any(re.search(r"cron /tasks/tick \(every minute\) -> 200 in \d+ ms", line) for line in emu.output),
             what="the run's console line")
    emu.advance_cron_clock(600)  # ten minutes: one run, not a burst of ten
    wait_for(lambda: len(runs(log, "/tasks/tick")) >= 2, timeout=10, what="the second run")
    time.sleep(1.5)
    assert len(runs(log, "/tasks/tick")) <= 3  # 3 only if a real minute also passed meanwhile


def test_run_cron_runs_a_job_now_with_the_cron_header_and_admin_access(served):
    emu, log = served
    assert emu.run_cron("/tasks/admin-only") == 200  # login: admin passes, as in production
    assert runs(log, "/tasks/admin-only")[0]["cron"] == "true"
    job = next(j for j in emu.cron_jobs() if j.url == "/tasks/admin-only")
    assert job.last_status == 200 and job.last_run is not None
    # An outside request to the same handler is refused, and cannot claim to be cron.
    response = emu.client.get("/tasks/outside", headers={"X-AppEngine-Cron": "true"})
    assert response.status == 200 and runs(log, "/tasks/outside")[-1]["cron"] is None
    assert emu.client.get("/tasks/admin-only", headers={"X-AppEngine-Cron": "true"}).status == 302


def test_a_failing_job_is_retried_per_its_parameters(served):
    emu, log = served
    emu.advance_cron_clock(12 * 3600)
    wait_for(lambda: len(runs(log, "/tasks/fail")) == 1, timeout=10, what="the first attempt")
    emu.advance_cron_clock(30)  # min_backoff_seconds
    wait_for(lambda: len(runs(log, "/tasks/fail")) == 2, timeout=10, what="the first retry")
    emu.advance_cron_clock(60)  # doubled
    wait_for(lambda: len(runs(log, "/tasks/fail")) == 3, timeout=10, what="the second retry")
    emu.advance_cron_clock(3600)  # job_retry_limit: 2, so no more
    time.sleep(1.5)
    assert len(runs(log, "/tasks/fail")) == 3
    assert next(j for j in emu.cron_jobs() if j.url == "/tasks/fail").last_status == 500


def test_the_cron_page_lists_jobs_and_runs_one(served):
    emu, log = served
    admin = emu._admin
    page = admin.get("/cron")
    assert page.status == 200 and "/tasks/tick" in page.text and "every 1 minutes" in page.text
    token = re.search(r'name="xsrf_token" value="([^"]+)"', page.text).group(1)
    job = "/tasks/admin-only"  # every 24 hours: it does not run by itself during the test
    refused = admin.post("/cron/run", {"url": job})  # no token: refused
    assert refused.status == 403 and runs(log, job) == []
    done = admin.post("/cron/run", {"url": job, "xsrf_token": token}, headers={"Origin": emu.admin_url})
    assert done.status == 303 and "status+200" in done.headers["Location"]
    assert len(runs(log, job)) == 1
    # The JSON API refuses a POST without X-Requested-With (a cross-site form cannot send it).
    assert admin.post("/api/cron/run", '{"url": "/tasks/admin-only"}',
                      headers={"Content-Type": "application/json"}).status in (400, 403)
    assert len(runs(log, job)) == 1


def test_edits_to_cron_yaml_apply_while_serving(served, tmp_path):
    emu, log = served
    cron_yaml = tmp_path / "app" / "cron.yaml"
    cron_yaml.write_text(CRON + "- url: /tasks/new\n  schedule: every 5 minutes\n")
    wait_for(lambda: any(j.url == "/tasks/new" for j in emu.cron_jobs()), timeout=10, what="the new job")
    cron_yaml.write_text(CRON + "- url: /tasks/new\n  schedule: every 5 minute\n")  # broken: kept the last good
    wait_for(lambda: emu.cron_jobs() and any("cron.yaml not reloaded" in line for line in emu.output),
             timeout=10, what="the broken edit to be logged")
    assert any(j.url == "/tasks/new" for j in emu.cron_jobs())


def test_no_enable_cron_leaves_jobs_to_the_console(tmp_path):
    root = make_app(tmp_path / "app")
    log = tmp_path / "cron.log"
    with emulator(root, args=["--env-var", f"CRON_LOG={log}", "--no-enable-cron"]) as emu:
        emu.advance_cron_clock(3600)
        time.sleep(1.5)
        assert runs(log, "/tasks/tick") == []
        assert emu.run_cron("/tasks/tick") == 200
        assert len(runs(log, "/tasks/tick")) == 1


PY3_MAIN = '''
import json, os

def app(environ, start_response):
    with open(os.environ["CRON_LOG"], "a") as log:
        log.write(json.dumps({"path": environ["PATH_INFO"], "cron": environ.get("HTTP_X_APPENGINE_CRON"),
                              "ip": environ.get("HTTP_X_APPENGINE_USER_IP")}) + "\\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def test_a_python3_service_gets_cron_requests_in_its_instance(tmp_path):
    root = tmp_path / "py3"
    root.mkdir()
    (root / "main.py").write_text(PY3_MAIN)
    (root / "app.yaml").write_text("runtime: python312\nentrypoint: gunicorn -b :$PORT main:app\nhandlers:\n"
                                   "- url: /tasks/.*\n  script: auto\n  login: admin\n")
    (root / "cron.yaml").write_text("cron:\n- url: /tasks/py3\n  schedule: every 5 minutes\n")
    log = tmp_path / "cron.log"
    with emulator(root, args=["--env-var", f"CRON_LOG={log}"]) as emu:
        emu.advance_cron_clock(300)
        wait_for(lambda: runs(log, "/tasks/py3"), timeout=15, what="the job to reach the instance")
    # X-AppEngine-User-IP carries the cron source address to the instance (its REMOTE_ADDR there).
    assert runs(log, "/tasks/py3")[0] == {"path": "/tasks/py3", "cron": "true", "ip": "0.1.0.1"}


def test_files_named_on_the_command_line_are_used_from_anywhere(tmp_path):
    """`gae-emu dev app conf/cron.yaml conf/queue.yaml conf/dispatch.yaml`, as gcloud app deploy takes
    them: by base name, from another folder."""
    root = make_app(tmp_path / "app")
    (root / "cron.yaml").unlink()
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "cron.yaml").write_text("cron:\n- url: /tasks/elsewhere\n  schedule: every 24 hours\n")
    (conf / "queue.yaml").write_text("queue:\n- name: mail\n  rate: 1/s\n")
    (conf / "dispatch.yaml").write_text('dispatch:\n- url: "*/favicon.ico"\n  service: default\n')
    log = tmp_path / "cron.log"
    with emulator(root, conf / "cron.yaml", conf / "queue.yaml", conf / "dispatch.yaml",
                  args=["--env-var", f"CRON_LOG={log}"]) as emu:
        assert [j.url for j in emu.cron_jobs()] == ["/tasks/elsewhere"]
        assert "mail" in [q["name"] for q in emu.queues()]
        emu.client.get("/favicon.ico")
        records = emu._api("GET", "/requests")["requests"]
    assert records[0]["dispatch_rule"] == f"{conf / 'dispatch.yaml'}:2 */favicon.ico -> default"
