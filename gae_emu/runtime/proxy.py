"""Forwarding a request the front end has routed to an instance, over kept-alive loopback connections.

The front end has already applied App Engine's rules (login, header stripping, the request's App
Engine headers), so the instance receives the environ's headers as HTTP headers, exactly as the app
would read them in-process, and its whole answer comes back buffered (App Engine buffers too).
Connections are pooled per instance process: a task delivery or an API-heavy request must not pay
for a TCP handshake and a new server thread each time.

Imports: the standard library only.
"""
from __future__ import annotations

import http.client
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


class ConnectionPool:
    """Idle HTTP/1.1 connections to one instance process (127.0.0.1:port)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self._idle: List[Tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self.closed = False

    def _take(self) -> Optional[http.client.HTTPConnection]:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < IDLE_SECONDS:
                    return conn
                conn.close()
        return None

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self.closed:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.connect()
        except OSError as exc:
            raise InstanceRefused(f"cannot connect to the instance on port {self.port}: {exc}") from None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def send(self, method: str, target: str, headers: List[Tuple[str, str]], body: bytes) -> Tuple[str, list, bytes]:
        """Send one request; an idle connection the instance had closed is retried once on a new one."""
        conn = self._take()
        reused = conn is not None
        retried: Optional[str] = None
        while True:
            if conn is None:
                try:
                    conn = self._connect()
                except InstanceGone:
                    if not reused and retried is not None:  # the retry of a dropped connection
                        raise InstanceGone(retried) from None
                    raise
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for key, value in headers:
                    conn.putheader(key, value)
                if body or method in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused:  # a stale keep-alive connection: nothing reached the app yet
                    conn, reused = None, False
                    retried = f"the instance closed the connection without answering ({exc})"
                    continue
                raise InstanceGone(f"the instance closed the connection without answering ({exc})") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise InstanceGone(f"the instance did not answer: {type(exc).__name__}: {exc}") from None
            status = f"{response.status} {response.reason}".rstrip()
            headers_out = [(k, v) for k, v in response.getheaders() if k.lower() not in DROPPED_RESPONSE_HEADERS]
            if response.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return status, headers_out, payload

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()
