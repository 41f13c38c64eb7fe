"""Python3 services run as App Engine runs them: each in its own instance process, started from its
entrypoint with its own environment, behind the emulator's front end (issue 11). Every test starts
the real `gae-emu dev` and talks to it over HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import venv
from pathlib import Path

import pytest

from gae_emu.testing import HttpClient, emulator, wait_for

ECHO = '''
import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"I am %s" % NAME.encode()]

NAME = "{name}"
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def service(root: Path, name: str, main: str, extra_yaml: str = "") -> Path:
    write(root / "main.py", main)
    service_line = f"service: {name}\n" if name != "default" else ""
    return write(root / "app.yaml", f"runtime: python312\n{service_line}{extra_yaml}")


def instance_pids(handle) -> dict:
    admin = HttpClient(handle.admin_url)
    return {i["service"]: i for i in admin.get("/api/instances").json()["instances"]}


def test_two_services_each_with_their_own_main(tmp_path):
    default = service(tmp_path / "default", "default", ECHO.format(name="default"))
    worker = service(tmp_path / "worker", "worker", ECHO.format(name="worker"))
    with emulator(default, worker) as emu:
        assert emu.client.get("/").text == "I am default"
        assert HttpClient(emu.service_url("worker")).get("/").text == "I am worker"
        pids = instance_pids(emu)
        assert pids["default"]["pid"] != pids["worker"]["pid"] != os.getpid()


def test_environment_is_complete_before_the_first_import(tmp_path):
    main = '''
        import json, os
        SEEN = {k: os.environ.get(k) for k in ("FOO", "EXTRA", "GOOGLE_CLOUD_PROJECT", "GAE_SERVICE", "GAE_ENV",
                                               "GAE_APPLICATION", "GAE_RUNTIME", "PORT", "API_PORT", "ONLY_WORKER")}
        FOO = os.environ["FOO"]

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(SEEN).encode()]
    '''
    default = service(tmp_path / "a", "default", main, "env_variables:\n  FOO: bar\n")
    worker = service(tmp_path / "b", "worker", main, "env_variables:\n  FOO: baz\n  ONLY_WORKER: 'yes'\n")
    write(tmp_path / "a" / "app.yaml", "runtime: python312\napplication: my-proj\nenv_variables:\n  FOO: bar\n")
    with emulator(default, worker, args=["--env-var", "EXTRA=1"]) as emu:
        seen = emu.client.get("/").json()
        assert seen["FOO"] == "bar" and seen["EXTRA"] == "1"
        assert seen["GOOGLE_CLOUD_PROJECT"] == "my-proj" and seen["GAE_APPLICATION"] == "dev~my-proj"
        assert seen["GAE_SERVICE"] == "default" and seen["GAE_ENV"] == "localdev" and seen["GAE_RUNTIME"] == "python312"
        assert seen["PORT"] and seen["ONLY_WORKER"] is None
        assert seen["API_PORT"], "the API server's port is set for appengine-python-standard"
        other = HttpClient(emu.service_url("worker")).get("/").json()
        assert other["FOO"] == "baz" and other["ONLY_WORKER"] == "yes" and other["GAE_SERVICE"] == "worker"


def test_django_settings_configured_at_import_serve_200s(tmp_path):
    pytest.importorskip("django")
    main = '''
        import django
        from django.conf import settings
        settings.configure(DEBUG=False, ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="x")
        django.setup()
        from django.http import HttpResponse
        from django.urls import path
        from django.core.wsgi import get_wsgi_application

        urlpatterns = [path("", lambda request: HttpResponse("django ok"))]
        app = get_wsgi_application()
    '''
    with emulator(service(tmp_path / "dj", "default", main)) as emu:
        for _ in range(3):
            response = emu.client.get("/")
            assert (response.status, response.text) == (200, "django ok")


def test_namespace_packages_and_script_main_app_under_python312(tmp_path):
    root = tmp_path / "ns"
    write(root / "pkg" / "sub" / "views.py", "def answer():\n    return b'namespace ok'\n")
    main = '''
        from pkg.sub import views

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [views.answer() + b" " + environ["PATH_INFO"].encode()]
    '''
    yaml_path = service(root, "default", main, "handlers:\n- url: /page\n  script: main.app\n")
    check = subprocess.run([sys.executable, "-m", "gae_emu", "check", str(yaml_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    with emulator(yaml_path) as emu:
        assert emu.client.get("/page").text == "namespace ok /page"


def test_an_app_with_its_own_virtualenv(tmp_path):
    root = tmp_path / "withvenv"
    venv.EnvBuilder(with_pip=False).create(root / ".venv")
    site = next((root / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "only_in_app_venv.py").write_text("WHERE = 'app venv'\n")
    main = '''
        import sys
        import only_in_app_venv

        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [(only_in_app_venv.WHERE + " " + sys.prefix).encode()]
    '''
    yaml_path = service(root, "default", main)
    check = subprocess.run([sys.executable, "-m", "gae_emu", "check", str(yaml_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    with emulator(yaml_path) as emu:
        text = emu.client.get("/").text
        assert text.startswith("app venv ") and text.endswith(".venv")


def test_asgi_app_under_uvicorn(tmp_path):
    pytest.importorskip("uvicorn")
    main = '''
        async def app(scope, receive, send):
            assert scope["type"] in ("http", "lifespan")
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            headers = dict(scope["headers"])
            body = b"asgi " + headers.get(b"x-appengine-country", b"-")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
    '''
    yaml_path = service(tmp_path / "asgi", "default", main, "entrypoint: uvicorn main:app --port $PORT\n")
    with emulator(yaml_path) as emu:
        assert emu.client.get("/").text == "asgi ZZ"
        assert "uvicorn" in " ".join(instance_pids(emu)["default"]["command"])


CRASHY = '''
    import os
    from google.appengine.api import wrap_wsgi_app
    from google.appengine.ext import deferred

    MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crashed-once")
    DONE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "task-done")


    def crash_once_then_record(value):
        if not os.path.exists(MARK):
            open(MARK, "w").close()
            os._exit(1)
        with open(DONE, "w") as out:
            out.write(value)


    def wsgi(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/die":
            os._exit(1)
        if path == "/defer":
            deferred.defer(crash_once_then_record, "ran after retry", _countdown=0.5)
        if path == "/_ah/warmup":
            open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "warmed"), "w").write(str(os.getpid()))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("alive %d" % os.getpid()).encode()]


    app = wrap_wsgi_app(wsgi, use_deferred=True)


    if __name__ == "__main__":
        # One process that serves, so that os._exit ends the instance whichever servers are
        # installed (under gunicorn the master would outlive its worker and start another).
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        make_server("127.0.0.1", int(os.environ["PORT"]), app, handler_class=Quiet).serve_forever()
'''


def test_an_instance_that_dies_is_restarted_and_its_task_retried(tmp_path):
    pytest.importorskip("google.appengine.api")
    root = tmp_path / "crashy"
    yaml_path = service(root, "default", CRASHY, "entrypoint: python main.py\napp_engine_apis: true\n"
                                                 "inbound_services:\n- warmup\n"
                                                 "handlers:\n- url: /_ah/queue/deferred\n  script: auto\n  login: admin\n")
    with emulator(yaml_path) as emu:
        first = emu.client.get("/")
        assert first.status == 200
        warmed_pid = (root / "warmed").read_text()
        assert first.text == f"alive {warmed_pid}", "warmup reached the instance before the first user request"
        assert emu.client.get("/die").status == 500
        again = emu.client.get("/")
        assert again.status == 200 and again.text != first.text, "a new instance answers the next request"
        info = instance_pids(emu)["default"]
        assert info["restarts"] >= 1 and info["last_exit_code"] == 1
        assert emu.client.post("/defer", b"").status == 200
        wait_for(lambda: (root / "task-done").exists(), timeout=30, what="the deferred task ran on its retry")
        assert (root / "task-done").read_text() == "ran after retry"
        emu.wait_until_idle(timeout=10)
    # every process the emulator started is gone with it
    pid = int((root / "warmed").read_text())
    wait_for(lambda: not _alive(pid), timeout=10, what="instances stopped with the emulator")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_broken_edit_leaves_other_services_and_the_console_answering(tmp_path):
    default = service(tmp_path / "default", "default", ECHO.format(name="default"))
    worker = service(tmp_path / "worker", "worker", ECHO.format(name="worker"))
    with emulator(default, worker, args=["--reload"]) as emu:
        worker_client = HttpClient(emu.service_url("worker"))
        assert worker_client.get("/").text == "I am worker"
        time.sleep(1.1)  # a new mtime for the poller
        write(tmp_path / "worker" / "main.py", "def app(environ, start_response:\n    pass\n")
        broken = wait_for(lambda: (lambda r: r if r.status == 503 else None)(worker_client.get("/")), timeout=30,
                          what="the broken service answering 503")
        assert "main.py:1" in broken.text and "SyntaxError" in broken.text
        assert emu.client.get("/").text == "I am default"
        assert HttpClient(emu.admin_url).get("/api/instances").status == 200
        write(tmp_path / "worker" / "main.py", ECHO.format(name="worker again"))
        wait_for(lambda: worker_client.get("/").text == "I am worker again", timeout=30, what="the fixed service back")


def test_check_reports_an_import_error_with_file_and_line(tmp_path):
    root = tmp_path / "bad"
    write(root / "helper.py", "x = 1\nraise ValueError('boom at import')\n")
    yaml_path = service(root, "default", "import helper\napp = None\n")
    result = subprocess.run([sys.executable, "-m", "gae_emu", "check", str(yaml_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{root / 'helper.py'}:2: ValueError: boom at import" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_entrypoint_program_is_one_line(tmp_path):
    yaml_path = service(tmp_path / "x", "default", ECHO.format(name="x"), "entrypoint: no-such-server-xyz --port $PORT\n")
    result = subprocess.run([sys.executable, "-m", "gae_emu", "dev", "--no-reload", "--port", "0", "--no-admin",
                             "--storage-path", str(tmp_path / "s"), str(yaml_path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "program 'no-such-server-xyz' is not installed" in result.stderr
    assert "Traceback" not in result.stderr
