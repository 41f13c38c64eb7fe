"""`ApiServer`: the API server's listener, on a loopback port only, with the service handlers wired.

Binding happens in the constructor (so the port is known, and a busy one reported, before the app
is imported with API_PORT in its environment); `start()` serves on a daemon thread. Each RPC is
logged at DEBUG only: ndb makes several per request.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, this package.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import List, Mapping, Optional

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from gae_emu.apiproxy import Services
from gae_emu.apiserver.app_identity import AppIdentity
from gae_emu.apiserver.datastore import DatastoreV3
from gae_emu.apiserver.memcache import Memcache
from gae_emu.apiserver.modules import Modules
from gae_emu.apiserver.taskqueue import TaskQueue
from gae_emu.apiserver.transport import RpcApp, ServiceHandler, TicketLookup
from gae_emu.apiserver.user import User

log = logging.getLogger("gae_emu.apiserver")
LOOPBACK = "127.0.0.1"


def service_handlers(services: Services, versions: Mapping[str, str]) -> List[ServiceHandler]:
    return [
        DatastoreV3(services.datastore),
        TaskQueue(services.taskqueue, services.datastore, services.hostnames),
        Memcache(),
        Modules(services.hostnames, versions, services.default_service),
        User(),
        AppIdentity(services.app_id),
    ]


class _DebugLogHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:  # type: ignore[override]
        log.debug('"%s %s" %s %s', self.command, self.path, code, size)

    def log_error(self, format: str, *args) -> None:  # type: ignore[override]
        log.warning(format, *args)


class ApiServer:
    """The `/rpc_http` endpoint of one emulator (bound at construction, served after `start()`)."""

    def __init__(self, services: Services, ticket_lookup: TicketLookup, port: int = 0,
                 versions: Optional[Mapping[str, str]] = None) -> None:
        self.app = RpcApp(service_handlers(services, versions or {}), ticket_lookup)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))  # loopback only: the API answers anyone holding a live ticket
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {LOOPBACK}:{port} for the API server: {exc.strerror or exc}") from None
        self._socket = sock
        self.host, self.port = LOOPBACK, sock.getsockname()[1]
        self._server: BaseWSGIServer = make_server(self.host, self.port, self.app, threaded=True,
                                                   request_handler=_DebugLogHandler, fd=sock.fileno())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-apiserver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        self._socket.close()
