"""dispatch.yaml through the real `gae-emu dev`: by path and by host to the right service, for
requests and for untargeted tasks; a service's own port bypasses it; `/_ah/` paths are not
dispatched; the request log names the rule; edits apply while serving. One emulator serves the
module (each test leaves the rules as it found them)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gae_emu.testing import emulator, wait_for

MAIN = '''
import os
from gae_emu.api import taskqueue
from gae_emu.ext import deferred

NAME = "{name}"
DONE = []

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/enqueue":
        taskqueue.add(url="/api/work", method="GET")
    if path == "/defer":
        deferred.defer(len, "abc")
    if path.endswith("/work"):
        with open(os.environ["WORK_LOG"], "a") as log:
            log.write(NAME + "\\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %s" % (NAME, path)).encode()]
'''
DISPATCH = """\
dispatch:
- url: "*/api/*"
  service: api
- url: "m.localhost/*"
  service: mobile
- url: "*/favicon.ico"
  service: default
- url: "*/_ah/warmup"
  service: api
- url: "*/_ah/queue/deferred"
  service: api
"""


def service(root: Path, name: str, extra_handlers: str = "", builtins: str = "") -> None:
    root.mkdir(parents=True)
    (root / f"{name}_main.py").write_text(MAIN.replace("{name}", name))
    service_line = "" if name == "default" else f"service: {name}\n"
    (root / "app.yaml").write_text(textwrap.dedent(f"""\
        runtime: python27
        api_version: 1
        threadsafe: true
        {service_line}{builtins}handlers:
        {extra_handlers}- url: /.*
          script: {name}_main.app
        """).replace("        ", ""))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("dispatch")
    service(tmp_path / "app", "default")
    service(tmp_path / "api", "api", "- url: /api/secret\n  script: api_main.app\n  login: admin\n",
            builtins="builtins:\n- deferred: on\n")
    service(tmp_path / "mobile", "mobile")
    (tmp_path / "app" / "dispatch.yaml").write_text(DISPATCH)
    (tmp_path / "app" / "cron.yaml").write_text("cron:\n- url: /api/work\n  schedule: every 24 hours\n")
    log = tmp_path / "work.log"
    with emulator(tmp_path / "app", tmp_path / "api", tmp_path / "mobile",
                  args=["--env-var", f"WORK_LOG={log}", "--enable-task-running"]) as emu:
        yield emu, tmp_path, log


def test_requests_are_routed_by_path_and_host(served):
    emu, _, _ = served
    assert emu.client.get("/api/ping").text == "api /api/ping"
    assert emu.client.get("/other").text == "default /other"
    assert emu.client.get("/api").text == "default /api"  # "*/api/*" needs the slash
    port = emu.url.rsplit(":", 1)[1]
    mobile = emu.client.get("/page", headers={"Host": f"m.localhost:{port}"})
    assert mobile.text == "mobile /page"
    # Rules apply in file order: /api/ on the m.localhost host still goes to api.
    assert emu.client.get("/api/x", headers={"Host": f"m.localhost:{port}"}).text == "api /api/x"
    assert emu.client.get("/page", headers={"Host": f"x.m.localhost:{port}"}).text == "default /page"  # exact host


def test_the_routed_service_applies_its_own_handlers_and_login(served):
    emu, _, _ = served
    assert emu.client.get("/api/secret").status == 302  # api's login: admin, not default's catch-all


def test_a_services_own_port_and_named_host_bypass_dispatch(served):
    emu, _, _ = served
    assert emu.client.get(emu.service_url("mobile") + "/api/ping").text == "mobile /api/ping"
    port = emu.url.rsplit(":", 1)[1]
    # A Host naming a service is that service's address: no dispatch.
    assert emu.client.get("/api/ping", headers={"Host": f"default.localhost:{port}"}).text == "default /api/ping"
    assert emu.client.get("/api/ping", headers={"Host": f"mobile.localhost:{port}"}).text == "mobile /api/ping"


def test_ah_paths_are_not_dispatched(served):
    emu, _, _ = served
    assert emu.client.get("/_ah/warmup").text == "default /_ah/warmup"


def worked(log: Path) -> list:
    return log.read_text().split() if log.exists() else []


def test_untargeted_tasks_follow_the_rules(served):
    emu, _, log = served
    before = len(worked(log))
    assert emu.client.get("/enqueue").status == 200
    wait_for(lambda: len(worked(log)) > before, timeout=10, what="the task to run")
    assert worked(log)[before:] == ["api"]


def test_untargeted_deferred_tasks_are_dispatched(served):
    emu, _, _ = served
    assert emu.client.get("/defer").status == 200
    emu.wait_until_idle(timeout=10)
    records = emu._api("GET", "/requests")["requests"]
    ran = [r for r in records if r["path"] == "/_ah/queue/deferred"]
    assert ran and ran[0]["status"] == 200 and ran[0]["dispatch_rule"].endswith("*/_ah/queue/deferred -> api")


def test_cron_jobs_follow_the_rules(served):
    emu, _, log = served
    before = len(worked(log))
    assert emu.run_cron("/api/work") == 200
    assert worked(log)[before:] == ["api"]


def test_the_request_log_names_the_rule(served):
    emu, _, _ = served
    emu.client.get("/api/logged")
    page = emu._admin.get("/requests").text
    assert "dispatch.yaml:2 */api/* -&gt; api" in page
    records = emu._api("GET", "/requests")["requests"]
    assert any(r["path"] == "/api/logged" and r["dispatch_rule"].endswith("*/api/* -> api") for r in records)


def test_edits_apply_while_serving(served):
    emu, root, _ = served
    (root / "app" / "dispatch.yaml").write_text('dispatch:\n- url: "*/api/*"\n  service: mobile\n')
    wait_for(lambda: emu.client.get("/api/ping").text == "mobile /api/ping", timeout=10, what="the edit")
    # A broken edit (a service that is not served) keeps the last good rules.
    (root / "app" / "dispatch.yaml").write_text('dispatch:\n- url: "*/api/*"\n  service: nope\n')
    wait_for(lambda: emu.client.get("/x") and any("service 'nope' is not served" in line for line in emu.output),
             timeout=10, what="the refused edit to be logged")
    assert emu.client.get("/api/ping").text == "mobile /api/ping"
    (root / "app" / "dispatch.yaml").write_text(DISPATCH)  # as it was, for the tests after this one
    wait_for(lambda: emu.client.get("/api/ping").text == "api /api/ping", timeout=10, what="the restored rules")


STD_COMMON = '''
import os
from google.appengine.api import wrap_wsgi_app
from google.appengine.ext import deferred


def note(path):
    with open(path, "a") as log:
        log.write(os.environ.get("GAE_SERVICE", "?") + "\\n")
'''
STD_DEFAULT = STD_COMMON + '''

def app(environ, start_response):
    deferred.defer(note, os.environ["WORK_LOG"])  # no _target: the task carries the request's Host
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"deferred"]


app = wrap_wsgi_app(app, use_deferred=True)
'''
STD_WORKER = STD_COMMON + '''

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"worker"]


app = wrap_wsgi_app(app, use_deferred=True)
'''


def test_an_untargeted_deferred_task_of_googles_library_is_dispatched(tmp_path):
    """appengine-python-standard's deferred, unchanged: the rule for /_ah/queue/deferred sends the
    task to the worker service's instance, where it runs (without the rule it runs in default's)."""
    pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed")
    for name, source, service_line in (("app", STD_DEFAULT, ""), ("worker", STD_WORKER, "service: worker\n")):
        root = tmp_path / name
        root.mkdir()
        (root / "std_main.py").write_text(source)
        (root / "app.yaml").write_text(f"{service_line}runtime: python312\napp_engine_apis: true\n"
                                       "entrypoint: gunicorn -b :$PORT std_main:app\nhandlers:\n"
                                       "- url: /_ah/queue/deferred\n  script: auto\n  login: admin\n"
                                       "- url: /.*\n  script: auto\n")
    (tmp_path / "app" / "dispatch.yaml").write_text('dispatch:\n- url: "*/_ah/queue/deferred"\n  service: worker\n')
    log = tmp_path / "work.log"
    with emulator(tmp_path / "app", tmp_path / "worker", args=["--env-var", f"WORK_LOG={log}"]) as emu:
        assert emu.client.get("/defer").text == "deferred"
        emu.wait_until_idle(timeout=20)
        records = emu._api("GET", "/requests")["requests"]
    assert worked(log) == ["worker"]
    ran = [r for r in records if r["path"] == "/_ah/queue/deferred"]
    assert ran and ran[0]["dispatch_rule"].endswith("*/_ah/queue/deferred -> worker")
