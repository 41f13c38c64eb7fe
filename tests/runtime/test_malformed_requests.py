"""The front door's answers to malformed requests: a NUL byte in a static path is 400, a Host header
that is not a well-formed host name is 400, a task header spelled with underscores is as reserved as
its dashed form, and bodies over 32 MB are refused before they are read, closing the connection."""
from __future__ import annotations

import io

import pytest
from werkzeug.test import Client

from gae_emu.runtime.bodylimit import MAX_BODY, limit_body
from gae_emu.runtime.delivery import TaskDelivery
from gae_emu.runtime.hosts import is_local_host

APP = """
runtime: python27
api_version: 1
threadsafe: true
handlers:
- url: /s
  static_dir: static
- url: /f/(.*)
  static_files: static/\\1
  upload: static/.*
- url: /.*
  script: main.app
"""


@pytest.mark.parametrize("path", ["/s/a%00b", "/s/%00", "/f/x%00.txt"])
def test_nul_byte_in_a_static_path_is_400(make_router, client_for, path):
    client = client_for(make_router(APP, {"static/hello.txt": "hi"}))
    assert client.get("/s/hello.txt").status_code == 200
    assert client.get(path).status_code == 400


def test_a_file_name_too_long_for_the_os_is_404(make_router, client_for):
    client = client_for(make_router(APP, {"static/hello.txt": "hi"}))
    assert client.get("/s/" + "x" * 5000).status_code == 404


@pytest.mark.parametrize("host", ["evil.example#.localhost", "localhost:abc", "localhost:0", "localhost:99999",
                                  "user@localhost", "localhost/x", "local host", "[::1", "-x.localhost",
                                  "x..localhost", "127.0.0.1:80:80", "localhost\x00"])
def test_malformed_hosts_are_refused(make_router, client_for, host):
    assert not is_local_host(host)
    client = client_for(make_router(APP, {"static/hello.txt": "hi"}))
    assert client.get("/x", headers={"Host": host}).status_code == 400


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8080", "worker.localhost", "localhost.", "127.0.0.1:1",
                                  "[::1]:8080", "[::1]"])
def test_well_formed_local_hosts_are_served(host):
    assert is_local_host(host)


def test_task_headers_spelled_with_underscores_are_reserved():
    class Task:
        headers = [("X_AppEngine_QueueName", "evil"), ("x-appengine_taskname", "evil"), ("X_Custom", "kept")]
        queue, name, retry_count, execution_count, eta, last_response, payload = "default", "t1", 0, 0, 1.0, 0, b""

    headers = TaskDelivery.headers_for(Task())
    names = [k.lower().replace("_", "-") for k, _ in headers]
    assert names.count("x-appengine-queuename") == 1 and names.count("x-appengine-taskname") == 1
    assert ("X-AppEngine-QueueName", "default") in headers and ("X_Custom", "kept") in headers


def _echo_length(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(len(body)).encode()]


def test_declared_oversized_body_is_refused_unread_with_connection_close():
    class Unreadable(io.RawIOBase):
        def read(self, n=-1):
            raise AssertionError("the body was read")

    seen = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/_ah/queue/deferred", "CONTENT_LENGTH": str(MAX_BODY + 1),
               "wsgi.input": Unreadable()}
    body = b"".join(limit_body(_echo_length)(environ, lambda status, headers: seen.append((status, dict(headers)))))
    assert seen[0][0].startswith("413") and seen[0][1]["Connection"] == "close"
    assert body == b"Upload limited to 32 megabytes."


def test_chunked_bodies_are_capped_and_small_ones_pass():
    client = Client(limit_body(_echo_length, limit=1000))
    small = client.post("/x", input_stream=io.BytesIO(b"a" * 1000), headers={"Transfer-Encoding": "chunked"})
    assert small.status_code == 200 and small.data == b"1000"
    large = client.post("/x", input_stream=io.BytesIO(b"a" * 1001), headers={"Transfer-Encoding": "chunked"})
    assert large.status_code == 413 and large.headers["Connection"] == "close"
    assert client.post("/x", data=b"abc").data == b"3"
    seen = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/x", "CONTENT_LENGTH": "-5", "wsgi.input": io.BytesIO(b"")}
    limit_body(_echo_length)(environ, lambda status, headers: seen.append(status))
    assert seen == ["400 Bad Request"]


def test_blob_uploads_keep_their_own_limits():
    client = Client(limit_body(_echo_length, limit=10))
    assert client.post("/_ah/upload/session", data=b"a" * 100).data == b"100"
