"""Threaded HTTP/1.1 servers (`instance_server.WSGIServer`, kept-alive connections), one per port,
started and stopped together.

Binding happens in `bind()` so a port in use is reported before anything starts serving.

Imports: the standard library, `gae_emu.runtime.environ`/`bodylimit`/`instance_server`.
"""
from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Callable, List, Optional

from email.utils import formatdate

from gae_emu.runtime.bodylimit import limit_body
from gae_emu.runtime.environ import SERVER_SOFTWARE
from gae_emu.runtime.instance_server import WSGIRequestHandler, WSGIServer

log = logging.getLogger("gae_emu.server")


class PortInUseError(Exception):
    """A port the user asked for cannot be bound."""


class QuietRequestHandler(WSGIRequestHandler):
    """The emulator's ports: dev_appserver's `Server:` header, a `Date:`, one log line per request."""

    server_version = SERVER_SOFTWARE

    def version_string(self) -> str:
        return SERVER_SOFTWARE  # the `Server:` header dev_appserver sends

    def response_headers(self) -> list:
        return [("Server", SERVER_SOFTWARE), ("Date", formatdate(usegmt=True))]

    def log_request(self, code="-", size="-") -> None:  # type: ignore[override]
        level = getattr(self.server, "request_log_level", logging.INFO)  # the admin console's: DEBUG
        log.log(level, '%s "%s %s" %s %s', self.client_address[0], self.command, self.path, code, size)

    def log_error(self, format: str, *args) -> None:  # type: ignore[override]
        log.warning(format, *args)


@dataclass
class Listener:
    name: str  # what it serves, for the startup banner ("default", "worker", "admin")
    host: str
    port: int
    app: Callable
    server: Optional[WSGIServer] = None
    thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def listen(host: str, port: int, name: str) -> socket.socket:
    """A listening socket, or PortInUseError in one line (werkzeug would print and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise PortInUseError(f"cannot listen on {host}:{port} for {name}: {exc.strerror or exc}") from None
    return sock


def wsgi_server(sock: socket.socket, app: Callable, handler: Optional[type] = None) -> WSGIServer:
    """A threaded HTTP/1.1 server on an already listening socket; bodies over 32 MB are refused."""
    server = WSGIServer(sock.getsockname()[:2], handler or QuietRequestHandler, limit_body(app), bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_address = sock.getsockname()[:2]
    return server


class ServerSet:
    def __init__(self) -> None:
        self.listeners: List[Listener] = []

    def bind(self, name: str, host: str, port: int, app: Callable) -> Listener:
        sock = listen(host, port, name)
        server = wsgi_server(sock, app)
        listener = Listener(name=name, host=host, port=sock.getsockname()[1], app=app, server=server)
        self.listeners.append(listener)
        return listener

    def start(self) -> None:
        for listener in self.listeners:
            assert listener.server is not None
            listener.thread = threading.Thread(
                target=listener.server.serve_forever, name=f"http-{listener.name}", daemon=True
            )
            listener.thread.start()

    def stop(self) -> None:
        for listener in self.listeners:
            if listener.server is not None:
                if listener.thread is not None:  # shutdown() waits forever for a server never started
                    listener.server.shutdown()
                listener.server.server_close()
