"""Forwarding a request the front end has routed to an instance, over kept-alive loopback connections.

The front end has already applied App Engine's rules (login, header stripping, the request's App
Engine headers), so the instance receives the environ's headers as HTTP headers, exactly as the app
would read them in-process, and its whole answer comes back buffered (App Engine buffers too).
Connections are pooled per instance process: a task delivery or an API-heavy request must not pay
for a TCP handshake and a new server thread each time.

Imports: the standard library only.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from typing import List, Optional, Tuple
from urllib.parse import quote

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
    read with a small parser (the standard library's client parses headers with the email package,
    a tenth of the emulator's time when tasks drain through an instance)."""

    MAX_LINE = 65536
    MAX_HEADERS = 200

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
            status_line = self.rfile.readline(self.MAX_LINE + 1)
            if not status_line:
                raise _Disconnected("the instance closed the connection without answering")
            version, _, rest = status_line.decode("iso-8859-1").rstrip("\r\n").partition(" ")
            code_text, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code_text.isdigit() or len(code_text) != 3:
                raise _Malformed(f"bad status line {status_line[:80]!r}")
            code = int(code_text)
            response_headers = self._headers()
            if code != 100:  # an interim 100 Continue precedes the answer
                break
        fields = {key.lower(): value for key, value in response_headers}
        connection = fields.get("connection", "").lower()
        keep = (connection != "close") if version == "HTTP/1.1" else (connection == "keep-alive")
        if method == "HEAD" or 100 <= code < 200 or code in (204, 304):
            payload = b""
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            payload = self._chunked()
        elif "content-length" in fields:
            try:
                length = int(fields["content-length"])
            except ValueError:
                raise _Malformed(f"bad Content-Length {fields['content-length'][:40]!r}") from None
            payload = self._exactly(length)
        else:  # delimited by the end of the connection
            payload, keep = self.rfile.read(), False
        return f"{code} {reason}".rstrip(), response_headers, payload, keep

    def _headers(self) -> List[Tuple[str, str]]:
        found: List[Tuple[str, str]] = []
        while True:
            line = self.rfile.readline(self.MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return found
            if not line or len(line) > self.MAX_LINE or len(found) >= self.MAX_HEADERS:
                raise _Malformed("the response's header section is cut short or too long")
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and found:
                found[-1] = (found[-1][0], f"{found[-1][1]} {text.strip()}")
                continue
            key, colon, value = text.partition(":")
            if not colon:
                raise _Malformed(f"bad header line {text[:80]!r}")
            found.append((key.strip(), value.strip(" \t")))

    def _exactly(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) != length:
            raise _Malformed(f"the body ended after {len(data)} of {length} bytes")
        return data

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self.rfile.readline(self.MAX_LINE + 1)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Malformed(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while self.rfile.readline(self.MAX_LINE + 1) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size))
            self.rfile.readline(self.MAX_LINE + 1)


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
