"""The two small HTTP/1.1 parsers on the hot path: the request side of gae-emu's WSGI server
(`instance_server.read_headers`, every port) and the response side of the proxy to instances
(`proxy.Connection`), each against real sockets and the answers HTTP allows."""
from __future__ import annotations

import io
import socket
import threading
from typing import List

import pytest

from gae_emu.runtime.instance_server import HeaderError, WSGIRequestHandler, WSGIServer, read_headers
from gae_emu.runtime.proxy import ConnectionPool, InstanceGone


def test_read_headers_unfolds_and_keeps_order_and_repeats():
    headers = read_headers(io.BytesIO(b"Host: a\r\nX-Long: one\r\n  two\r\nCookie: a=1\r\ncookie: b=2\r\n\r\nbody"))
    assert headers.items() == [("Host", "a"), ("X-Long", "one two"), ("Cookie", "a=1"), ("cookie", "b=2")]
    assert headers.get("HOST") == "a" and headers.get_all("Cookie") == ["a=1", "b=2"] and headers.get("none") is None


@pytest.mark.parametrize("raw, code", [
    (b"no colon here\r\n\r\n", 400),
    (b" leading: continuation\r\n\r\n", 400),
    (b"Bad Name : x\r\n\r\n", 400),
    (b"X: " + b"y" * 70000 + b"\r\n\r\n", 431),
    (b"".join(b"H%d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
])
def test_read_headers_refuses_malformed_sections(raw, code):
    with pytest.raises(HeaderError) as info:
        read_headers(io.BytesIO(raw))
    assert info.value.code == code


@pytest.fixture
def echo_server():
    """gae-emu's WSGI server answering with what it parsed."""
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        seen = sorted(f"{k}={v}" for k, v in environ.items() if k.startswith("HTTP_") or k == "CONTENT_TYPE")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("|".join(seen) + f"|body={body.decode()}").encode()]

    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_the_server_reads_headers_and_keeps_the_connection(echo_server):
    request = (b"POST /p HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nX-A: 2\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 2\r\n\r\nhi")
    answer = raw_exchange(echo_server, request + b"GET /again HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 2  # two requests on one connection
    assert b"CONTENT_TYPE=text/plain|HTTP_HOST=localhost|HTTP_X_A=1,2|body=hi" in answer


@pytest.mark.parametrize("request_line, status", [
    (b"GARBAGE\r\n", b"400"), (b"GET / HTTP/2.0\r\n", b"505"), (b"GET / HTTP/x.y\r\n", b"400"),
])
def test_the_server_refuses_bad_request_lines(echo_server, request_line, status):
    assert raw_exchange(echo_server, request_line + b"Host: localhost\r\n\r\n").startswith(b"HTTP/1.1 " + status)


def test_a_bad_header_line_is_400(echo_server):
    assert raw_exchange(echo_server, b"GET / HTTP/1.1\r\nno colon\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_an_http_1_0_request_closes_the_connection(echo_server):
    answer = raw_exchange(echo_server, b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer


class CannedInstance:
    """A socket server answering each request with the next canned response, then per `close`."""

    def __init__(self, answers: List[bytes], close_after: bool = False) -> None:
        self.answers = list(answers)
        self.requests: List[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.close_after = close_after
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            conn, _ = self.listener.accept()
            with conn:
                while self.answers:
                    data = conn.recv(65536)
                    if not data:
                        break
                    self.requests.append(data)
                    conn.sendall(self.answers.pop(0))
                    if self.close_after:
                        break


def test_the_proxy_reads_lengths_chunks_interim_and_close_delimited_answers():
    instance = CannedInstance([
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\nX-Multi: a\r\nX-Multi: b\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nX-Folded: one\r\n two\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    ])
    pool = ConnectionPool(instance.port, timeout=5)
    assert pool.send("POST", "/a", [("Host", "h")], b"xy") == ("201 Created", [("X-Multi", "a"), ("X-Multi", "b")], b"abc")
    assert pool.send("GET", "/b", [], b"") == ("200 OK", [], b"abcde")
    assert pool.send("GET", "/c", [], b"") == ("204 No Content", [("X-Folded", "one two")], b"")
    status, headers, body = pool.send("GET", "/d", [], b"")
    assert (status, body) == ("200 OK", b"until the end")
    assert instance.requests[0] == b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy"
    pool.close()


def test_a_stale_kept_connection_is_retried_once_on_a_new_one():
    instance = CannedInstance([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
                               b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"], close_after=True)
    pool = ConnectionPool(instance.port, timeout=5)
    assert pool.send("GET", "/", [], b"")[2] == b"1"
    assert pool.send("GET", "/", [], b"")[2] == b"2"  # the first connection was closed after its answer
    pool.close()


@pytest.mark.parametrize("answer", [b"SPDY nonsense\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                                    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"])
def test_a_malformed_answer_is_instance_gone(answer):
    instance = CannedInstance([answer], close_after=True)
    with pytest.raises(InstanceGone):
        ConnectionPool(instance.port, timeout=5).send("GET", "/", [], b"")


def test_header_injection_is_refused_before_anything_is_sent():
    instance = CannedInstance([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    pool = ConnectionPool(instance.port, timeout=5)
    with pytest.raises(ValueError):
        pool.send("GET", "/", [("X-Evil", "a\r\nX-Injected: 1")], b"")
    with pytest.raises(InstanceGone):
        pool.send("GET", "/a b", [], b"")
    assert instance.requests == []
