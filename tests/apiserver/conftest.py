"""Fixtures for the API server's unit tests: in-process services, an `RpcApp` over them, and `rpc()`
to make one call the way Google's client library does (a serialized remote_api Request in, a
Response out)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.server import service_handlers
from gae_emu.apiserver.transport import RpcApp
from gae_emu.testing import services

# Test modules that need Google's library skip with this reason (CI installs it via the test extra).
NO_LIBRARY = "appengine-python-standard is not installed (pip install 'gae-emu[google]')"

APP_ID = "dev~rpc-test"
TICKET = "live-ticket"
QUEUE_YAML = """
queue:
- name: default
  rate: 5/s
- name: foo
  rate: 1/s
- name: pulled
  mode: pull
"""


@pytest.fixture
def testbed(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "queue.yaml").write_text(QUEUE_YAML)
    with services(app_root=tmp_path / "app", app_id=APP_ID, storage_path=tmp_path / "storage") as bed:
        bed.services.hostnames.update({"default": "localhost:8080", "worker": "localhost:8081"})
        bed.taskqueue.known_targets = lambda: tuple(bed.services.hostnames)  # as the emulator wires it
        yield bed


@pytest.fixture
def rpc_app(testbed: Any) -> RpcApp:
    live = {TICKET: {"HTTP_HOST": "localhost:8080", "wsgi.url_scheme": "http", "CURRENT_MODULE_ID": "default"}}
    return RpcApp(service_handlers(testbed.services, {"default": "1", "worker": "1"}), live.get)


class Rpc:
    """Calls through the wire format; `ok()` returns the parsed reply, `call()` the raw Response."""

    def __init__(self, app: RpcApp) -> None:
        self.app = app

    def call(self, service: str, method: str, request: Any, ticket: str = TICKET) -> Any:
        remote_api = pb().remote_api
        outer = remote_api.Request(service_name=service, method=method, request_id=ticket,
                                   request=request.SerializeToString())
        response = remote_api.Response()
        response.ParseFromString(self.app.handle(outer.SerializeToString()))
        return response

    def ok(self, service: str, method: str, request: Any, reply_type: Any) -> Any:
        response = self.call(service, method, request)
        assert not response.HasField("rpc_error"), response.rpc_error
        assert not response.HasField("application_error"), response.application_error
        reply = reply_type()
        reply.ParseFromString(response.response)
        return reply

    def app_error(self, service: str, method: str, request: Any) -> Any:
        response = self.call(service, method, request)
        assert response.HasField("application_error"), response
        return response.application_error


@pytest.fixture
def rpc(rpc_app: RpcApp) -> Rpc:
    return Rpc(rpc_app)


@pytest.fixture
def google_api(testbed: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Google's own library (ndb, db, GQL, memcache) in this process, talking HTTP to a real API
    server on a loopback port over `testbed`'s services, as an instance of `gae-emu dev` does.

    Each test gets a fresh ndb context (no cache carried over) and a fresh API proxy; the API server
    is stopped afterwards. Yields the `ApiServer`.
    """
    pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)
    from google.appengine.api import apiproxy_stub_map
    from google.appengine.runtime import default_api_stub

    from gae_emu.apiserver.server import ApiServer

    live = {TICKET: {"HTTP_HOST": "localhost:8080", "wsgi.url_scheme": "http", "CURRENT_MODULE_ID": "default"}}
    server = ApiServer(testbed.services, live.get)
    server.start()
    for name, value in {"API_HOST": server.host, "API_PORT": str(server.port), "APPLICATION_ID": APP_ID,
                        "HTTP_X_APPENGINE_API_TICKET": TICKET, "AUTH_DOMAIN": "gmail.com"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("__CONTEXT__", raising=False)  # ndb makes a fresh context on first use
    monkeypatch.setattr(apiproxy_stub_map, "apiproxy", apiproxy_stub_map.APIProxyStubMap())
    default_api_stub.Register(default_api_stub.DefaultApiStub())
    default_api_stub.DefaultApiStub.SetUseRequestSecurityTicketForThread(True)
    try:
        yield server
    finally:
        default_api_stub.DefaultApiStub.SetUseRequestSecurityTicketForThread(False)
        server.stop()
