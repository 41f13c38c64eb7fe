"""The real `gae-emu dev` in a subprocess on free loopback ports, talked to over HTTP."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gae_emu.testing import HttpClient, emulator

MAIN = '''
import json

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    return [json.dumps(seen).encode()]
'''


def make_app(root: Path, service: str = "default") -> Path:
    root.mkdir(parents=True)
    (root / "static").mkdir()
    (root / "static" / "hello.txt").write_text("hello static")
    module = f"main_{service}_{root.parent.name.replace('-', '_')}"
    (root / f"{module}.py").write_text(MAIN)
    (root / "app.yaml").write_text(textwrap.dedent(f"""\
        runtime: python27
        service: {service}
        api_version: 1
        threadsafe: true
        handlers:
        - url: /static
          static_dir: static
        - url: /admin/.*
          script: {module}.app
          login: admin
        - url: /.*
          script: {module}.app
        """))
    return root


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    base = tmp_path_factory.mktemp("devserver")
    default = make_app(base / "default")
    worker = make_app(base / "worker", service="worker")
    with emulator(default, worker / "app.yaml") as handle:
        yield handle


def test_script_and_static_are_served(running):
    client = HttpClient(running.url)
    response = client.get("/static/hello.txt")
    assert response.status == 200
    assert response.body == b"hello static"
    assert response.headers["Server"] == "Development/2.0"
    seen = client.get("/anything").json()
    assert seen["PATH_INFO"] == "/anything"
    assert seen["CURRENT_MODULE_ID"] == "default"


def test_login_admin_url_anonymous_non_admin_and_admin(running):
    client = HttpClient(running.url)
    anonymous = client.get("/admin/page")
    assert anonymous.status == 302
    assert "/_ah/login?continue=" in anonymous.headers["Location"]
    client.login("user@example.com", admin=False)
    assert client.get("/admin/page").status == 401
    client.login("admin@example.com", admin=True)
    response = client.get("/admin/page")
    assert response.status == 200
    assert response.json()["USER_IS_ADMIN"] == "1"
    client.logout()
    assert client.get("/admin/page").status == 302


def test_spoofed_task_headers_never_reach_the_app_and_grant_nothing(running):
    client = HttpClient(running.url)
    spoof = {"X-AppEngine-TaskName": "evil", "X-AppEngine-QueueName": "default",
             "X-AppEngine-Fake-Is-Admin": "1", "X-AppEngine-Fake-Logged-In": "1"}
    assert client.get("/admin/page", headers=spoof).status == 302
    seen = client.get("/page", headers=spoof).json()
    assert not [k for k in seen if k in ("HTTP_X_APPENGINE_TASKNAME", "HTTP_X_APPENGINE_QUEUENAME",
                                          "HTTP_X_APPENGINE_FAKE_IS_ADMIN", "HTTP_X_APPENGINE_FAKE_LOGGED_IN")]
    assert seen["USER_IS_ADMIN"] == "0"


def test_services_are_routed_by_host_and_by_port(running):
    default_port = running.url.rsplit(":", 1)[1]
    by_host = HttpClient(running.url).get("/x", headers={"Host": f"worker.localhost:{default_port}"}).json()
    assert by_host["CURRENT_MODULE_ID"] == "worker"
    by_port = HttpClient(running.service_url("worker")).get("/x").json()
    assert by_port["CURRENT_MODULE_ID"] == "worker"


def test_foreign_host_is_refused(running):
    response = HttpClient(running.url).get("/x", headers={"Host": "rebind.attacker.example"})
    assert response.status == 400


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gae_emu", *args], capture_output=True, text=True, timeout=timeout)


def test_bad_config_is_one_line_with_position_and_exit_2(tmp_path):
    root = make_app(tmp_path / "app")
    text = (root / "app.yaml").read_text().replace("login: admin", "login: admn")
    (root / "app.yaml").write_text(text)
    for args in (("check", str(root)), ("dev", str(root), "--no-reload")):
        result = run_cli(*args)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert f"{root}/app.yaml:10:10: handlers[1].login: 'admn' is not one of optional, required, admin" in result.stderr


def test_missing_app_yaml_exit_2(tmp_path):
    result = run_cli("check", str(tmp_path))
    assert result.returncode == 2
    assert "app.yaml" in result.stderr and "Traceback" not in result.stderr


def test_check_prints_the_handler_table(tmp_path):
    root = make_app(tmp_path / "app")
    result = run_cli("check", str(root))
    assert result.returncode == 0, result.stderr
    assert "/admin/.*" in result.stdout and "admin" in result.stdout and "static_dir" in result.stdout


def test_port_in_use_is_one_line_exit_2(tmp_path):
    root = make_app(tmp_path / "app")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("dev", str(root), "--no-reload", "--port", str(port), "--admin-port", "0",
                         "--storage-path", str(tmp_path / "s"))
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_storage_in_use_by_another_server_is_one_line_exit_2(tmp_path):
    root = make_app(tmp_path / "app")
    storage = tmp_path / "s"
    with emulator(root, storage_path=storage):
        for extra in ((), ("--clear-datastore",)):
            result = run_cli("dev", str(root), "--no-reload", "--port", "0", "--admin-port", "0",
                             "--storage-path", str(storage), *extra)
            assert result.returncode == 2
            assert "in use by another process" in result.stderr and "Traceback" not in result.stderr


def test_sigterm_stops_cleanly(tmp_path):
    root = make_app(tmp_path / "app")
    with emulator(root) as handle:
        assert HttpClient(handle.url).get("/x").status == 200
        handle.process.send_signal(signal.SIGTERM)
        assert handle.process.wait(10) == 0


def test_storage_path_is_created_private(tmp_path):
    root = make_app(tmp_path / "app")
    storage = tmp_path / "store"
    with emulator(root, storage_path=storage):
        assert storage.is_dir()
        assert storage.stat().st_mode & 0o077 == 0


def test_reload_restarts_on_change(tmp_path):
    root = make_app(tmp_path / "app")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "gae_emu", "dev", str(root), "--port", str(port),
                                "--no-admin", "--storage-path", str(tmp_path / "s")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = HttpClient(f"http://127.0.0.1:{port}")
        module = next(root.glob("main_*.py"))
        assert _eventually(lambda: client.get("/x").json().get("MARK") is None)
        module.write_text(MAIN.replace("seen = {", "seen = {'MARK': 'changed', **{").replace("isinstance(v, str)}", "isinstance(v, str)}}"))
        assert _eventually(lambda: client.get("/x").json().get("MARK") == "changed", timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _eventually(check, timeout: float = 15.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("which, path", [("app", "/upload"), ("app", "/_ah/queue/deferred"), ("admin", "/api/reset")])
def test_oversized_body_is_refused_at_once_and_the_connection_closed(running, which, path):
    """A 100 MB body: 413 before it is read, then the server closes the connection (no 120 s wait)."""
    url = running.url if which == "app" else running.admin_url
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: {100 * 1024 * 1024}\r\n"
                     "Content-Type: application/octet-stream\r\nX-Requested-With: t\r\n\r\n".encode() + b"x" * 65536)
        started, data = time.monotonic(), b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # closing with unread body bytes may reset: closed either way
        assert time.monotonic() - started < 5
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b"Upload limited to 32 megabytes." in data
