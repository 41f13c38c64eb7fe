"""Forwarding a request the front end has routed to an instance, over kept-alive loopback connections.

The front end has already applied App Engine's rules (login, header stripping, the request's App
Engine headers), so the instance receives the environ's headers as HTTP headers, exactly as the app
would read them in-process, and its whole answer comes back buffered (App Engine buffers too).
Connections are pooled per instance process: a task delivery or an API-heavy request must not pay
for a TCP handshake and a new server thread each time.

Imports: the standard library and the HTTP parsers of `gae_emu.runtime.instance_server`.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from typing import List, Optional, Tuple
from urllib.parse import quote

from gae_emu.runtime.instance_server import MAX_LINE, HeaderError, read_chunked, read_headers

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                        "proxy-authorization", "proxy-authenticate", "proxy-connection"})
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"content-length", "date", "server"}  # the front end sets its own
IDLE_SECONDS = 30.0  # pooled connections idle longer are dropped (the instance may have timed them out)
PATH_SAFE = "/:@!$&'()*+,;=-._~"


class InstanceGone(Exception):
    """The instance closed the connection or could not be reached: it answered nothing."""


class InstanceRefused(InstanceGone):
    """Nothing listens on the instance's port: the request certainly did not reach the app."""


def request_parts(environ: dict) -> Tuple[str, str, List[Tuple[str, str]], bytes]:
    """(method, target, headers, body) of a WSGI environ, as the client sent them plus App Engine's."""
    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe=PATH_SAFE) or "/"
    query = environ.get("QUERY_STRING")
    target = f"{path}?{query}" if query else path
    headers: List[Tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            name = key[5:].replace("_", "-").title()
            if name.lower() not in HOP_BY_HOP and name != "Content-Length":
                headers.append((name, value))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    remote = environ.get("REMOTE_ADDR")
    if remote:
        # App Engine's front end tells the runtime who called (0.1.0.2 for the task queue, which
        # the deferred handler checks under gunicorn); the library copies it to REMOTE_ADDR.
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        headers = [(k, v) for k, v in headers if k not in ("X-Forwarded-For", "X-Appengine-User-Ip")]
        headers.append(("X-Forwarded-For", f"{forwarded}, {remote}" if forwarded else remote))
        headers.append(("X-Appengine-User-Ip", remote))
    body = _read_body(environ)
    return environ.get("REQUEST_METHOD", "GET"), target, headers, body


def _read_body(environ: dict) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        return stream.read(length)
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_UNSAFE_HEADER = re.compile(r"[\x00-\x20:\x7f]")


class _Disconnected(Exception):
    """The connection ended before a status line: on a reused connection, nothing reached the app."""


class _Malformed(Exception):
    """The instance's answer is not HTTP/1.x as this client reads it."""


class Connection:
    """One HTTP/1.1 connection to an instance: a request written in one `sendall`, its response
    read with the server's own small parsers (instance_server.py; the standard library's client
    parses headers with the email package, a tenth of the emulator's time when tasks drain through
    an instance)."""

    def __init__(self, port: int, timeout: float) -> None:
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as exc:
            raise InstanceRefused(f"cannot connect to the instance on port {port}: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self) -> None:
        for part in (self.rfile, self.sock):
            try:
                part.close()
            except OSError:
                pass

    def exchange(self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes
                 ) -> Tuple[str, List[Tuple[str, str]], bytes, bool]:
        """(status line's code and reason, headers, body, whether the instance keeps the connection)."""
        if _UNSAFE_TARGET.search(target):
            raise _Malformed(f"the URL {target[:80]!r} has characters HTTP does not allow")
        lines = [f"{method} {target} HTTP/1.1"]
        for key, value in headers:
            if _UNSAFE_HEADER.search(key) or "\r" in value or "\n" in value:
                raise ValueError(f"Invalid header {key[:40]!r}: {value[:40]!r}")  # as http.client refuses it
            lines.append(f"{key}: {value}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        while True:
            status_line = self.rfile.readline(MAX_LINE + 1)
            if not status_line:
                raise _Disconnected("the instance closed the connection without answering")
            version, _, rest = status_line.decode("iso-8859-1").rstrip("\r\n").partition(" ")
            code_text, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code_text.isdigit() or len(code_text) != 3:
                raise _Malformed(f"bad status line {status_line[:80]!r}")
            code = int(code_text)
            try:
                answer = read_headers(self.rfile)
            except HeaderError as exc:
                raise _Malformed(f"the answer's header section: {exc}") from None
            if code != 100:  # an interim 100 Continue precedes the answer
                break
        connection = (answer.get("Connection") or "").lower()
        keep = (connection != "close") if version == "HTTP/1.1" else (connection == "keep-alive")
        if method == "HEAD" or 100 <= code < 200 or code in (204, 304):
            payload = b""
        elif "chunked" in (answer.get("Transfer-Encoding") or "").lower():
            try:
                payload = read_chunked(self.rfile)
            except ValueError as exc:
                raise _Malformed(f"bad chunked body: {exc}") from None
            if payload is None:
                raise _Malformed("the chunked body is over 32 MB")
        elif answer.get("Content-Length") is not None:
            text = answer.get("Content-Length")
            if not text.isdigit():
                raise _Malformed(f"bad Content-Length {text[:40]!r}")
            payload = self._exactly(int(text))
        else:  # delimited by the end of the connection
            payload, keep = self.rfile.read(), False
        return f"{code} {reason}".rstrip(), answer.items(), payload, keep

    def _exactly(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) != length:
            raise _Malformed(f"the body ended after {len(data)} of {length} bytes")
        return data


class ConnectionPool:
    """Idle HTTP/1.1 connections to one instance process (127.0.0.1:port)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self._idle: List[Tuple[Connection, float]] = []
        self._lock = threading.Lock()
        self.closed = False

    def _take(self) -> Optional[Connection]:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < IDLE_SECONDS:
                    return conn
                conn.close()
        return None

    def _give_back(self, conn: Connection) -> None:
        with self._lock:
            if not self.closed:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def send(self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes) -> Tuple[str, list, bytes]:
        """Send one request; an idle connection the instance had closed is retried once on a new one."""
        conn = self._take()
        reused = conn is not None
        retried: Optional[str] = None
        while True:
            if conn is None:
                try:
                    conn = Connection(self.port, self.timeout)
                except InstanceGone:
                    if not reused and retried is not None:  # the retry of a dropped connection
                        raise InstanceGone(retried) from None
                    raise
            try:
                status, response_headers, payload, keep = conn.exchange(method, target, headers, body)
            except (_Disconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused:  # a stale keep-alive connection: nothing reached the app yet
                    conn, reused = None, False
                    retried = f"the instance closed the connection without answering ({exc})"
                    continue
                raise InstanceGone(f"the instance closed the connection without answering ({exc})") from None
            except (OSError, _Malformed) as exc:
                conn.close()
                raise InstanceGone(f"the instance did not answer: {type(exc).__name__}: {exc}") from None
            headers_out = [(k, v) for k, v in response_headers if k.lower() not in DROPPED_RESPONSE_HEADERS]
            if keep:
                self._give_back(conn)
            else:
                conn.close()
            return status, headers_out, payload

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()
