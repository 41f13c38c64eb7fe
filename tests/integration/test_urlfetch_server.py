"""urlfetch under the real `gae-emu dev`: a Python 3 app on appengine-python-standard (no gae-emu
import) fetches from local test servers (plain HTTP and a self-signed HTTPS one) and the library
sees production's results and errors."""
from __future__ import annotations

import gzip
import json
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("google.appengine.api", reason="appengine-python-standard is not installed (the test extra installs it)")
pytest.importorskip("flask", reason="flask is not installed (the test extra installs it)")

from gae_emu.testing import EmulatorHandle, emulator  # noqa: E402

APP = Path(__file__).resolve().parent / "apps" / "fetchapp"
BIG = 32 * 1024 * 1024 + 1000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if parts.path == "/echo":
            seen = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                    "body": body.decode()}
            self._send(200, json.dumps(seen).encode(), {"Content-Type": "application/json", "X-Test": "yes"})
        elif parts.path.startswith("/redirect/"):
            left = int(parts.path.rsplit("/", 1)[1])
            target = f"/redirect/{left - 1}?code={query.get('code', '302')}" if left > 1 else "/echo"
            self._send(int(query.get("code", "302")), b"", {"Location": target})
        elif parts.path == "/slow":
            time.sleep(float(query["seconds"]))
            self._send(200, b"late")
        elif parts.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            block = b"x" * 65536
            sent = 0
            while sent < BIG:
                piece = block[: BIG - sent]
                self.wfile.write(piece)
                sent += len(piece)
        elif parts.path == "/gzip":
            self._send(200, gzip.compress(b"unzipped " * 100), {"Content-Encoding": "gzip"})
        else:
            self._send(404, b"no")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route


def serve(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def tls_origin(tmp_path_factory) -> Iterator[str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    serve(server)
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def running() -> Iterator[EmulatorHandle]:
    with emulator(APP / "app.yaml") as handle:
        yield handle


def fetch(handle: EmulatorHandle, url: str, **options: Any) -> dict:
    resp = handle.client.post("/fetch", data=json.dumps({"url": url, **options}),
                              headers={"Content-Type": "application/json"}, timeout=120)
    assert resp.status == 200, resp.text
    return resp.json()


def echoed(result: dict) -> dict:
    import base64

    return json.loads(base64.b64decode(result["content"]))


def test_get_sends_the_apps_headers_and_productions_user_agent(running, origin):
    result = fetch(running, origin + "/echo?x=1", headers={"X-Mine": "1", "User-Agent": "my-agent/2", "Host": "evil"})
    assert result["status"] == 200 and result["headers"]["X-Test"] == "yes" and result["final_url"] is None
    seen = echoed(result)
    assert seen["method"] == "GET" and seen["path"] == "/echo?x=1" and seen["headers"]["X-Mine"] == "1"
    assert seen["headers"]["User-Agent"] == (
        "my-agent/2 AppEngine-Google; (+http://code.google.com/appengine; appid: fetchapp-test)")
    assert seen["headers"]["Host"] == origin.split("//")[1]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD"])
def test_every_method_with_its_payload(running, origin, method):
    result = fetch(running, origin + "/echo", method=method, payload="a=1&b=2")
    assert result["status"] == 200
    if method == "HEAD":
        assert result["size"] == 0
        return
    seen = echoed(result)
    assert seen["method"] == method
    assert seen["body"] == ("a=1&b=2" if method in ("POST", "PUT", "PATCH") else "")


def test_redirect_chains(running, origin):
    result = fetch(running, origin + "/redirect/3")
    assert result["status"] == 200 and result["final_url"] == origin + "/echo"
    assert echoed(fetch(running, origin + "/redirect/1", method="POST", payload="p"))["method"] == "GET"
    kept = echoed(fetch(running, origin + "/redirect/1?code=307", method="POST", payload="p"))
    assert (kept["method"], kept["body"]) == ("POST", "p")
    assert fetch(running, origin + "/redirect/2", follow_redirects=False)["status"] == 302
    assert fetch(running, origin + "/redirect/5")["status"] == 200
    assert fetch(running, origin + "/redirect/6")["error"] == "TooManyRedirectsError"


def test_a_deadline_that_expires(running, origin):
    started = time.monotonic()
    assert fetch(running, origin + "/slow?seconds=4", deadline=1)["error"] == "DeadlineExceededError"
    assert time.monotonic() - started < 3.5
    assert fetch(running, origin + "/slow?seconds=0.2", deadline=3)["status"] == 200


def test_tls_failure_on_a_self_signed_server(running, tls_origin):
    assert fetch(running, tls_origin + "/echo")["error"] == "SSLCertificateError"
    assert fetch(running, tls_origin + "/echo", validate_certificate=True)["error"] == "SSLCertificateError"
    assert fetch(running, tls_origin + "/echo", validate_certificate=False)["status"] == 200


def test_an_oversized_response(running, origin):
    assert fetch(running, origin + "/big", deadline=60)["error"] == "ResponseTooLargeError"
    cut = fetch(running, origin + "/big", deadline=60, allow_truncated=True)
    assert cut["truncated"] is True and cut["size"] == 32 * 1024 * 1024 and cut["status"] == 200


def test_bad_urls_and_unreachable_servers(running, origin):
    assert fetch(running, "ftp://127.0.0.1/x")["error"] == "InvalidURLError"
    assert fetch(running, "http://127.0.0.1:22/x")["error"] == "InvalidURLError"
    free = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = free.server_address[1]
    free.server_close()  # nothing listens there now
    assert fetch(running, f"http://127.0.0.1:{port}/")["error"] == "DownloadError"


def test_gzip_is_decoded_and_the_emulators_own_port_is_fetched(running, origin):
    import base64

    zipped = fetch(running, origin + "/gzip")
    assert base64.b64decode(zipped["content"]) == b"unzipped " * 100 and "Content-Encoding" not in zipped["headers"]
    own = fetch(running, running.url + "/hello")
    assert base64.b64decode(own["content"]) == b"hello from the app itself"
