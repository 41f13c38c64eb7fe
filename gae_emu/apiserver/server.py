"""`ApiServer`: the API server's listener, on a loopback port only, with the service handlers wired.

Binding happens in the constructor (so the port is known, and a busy one reported, before the app
is imported with API_PORT in its environment); `start()` serves on a daemon thread. Each RPC is
logged at DEBUG only: ndb makes several per request.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.runtime.hosts`/`server`, this package.
"""
from __future__ import annotations

import logging
import threading
from typing import List, Mapping, Optional


from gae_emu.apiproxy import Services
from gae_emu.apiserver.app_identity import AppIdentity
from gae_emu.apiserver.blobstore import Blobstore
from gae_emu.apiserver.datastore import DatastoreV3
from gae_emu.apiserver.mail import Mail
from gae_emu.apiserver.memcache import Memcache
from gae_emu.apiserver.modules import Modules
from gae_emu.apiserver.taskqueue import TaskQueue
from gae_emu.apiserver.transport import RpcApp, ServiceHandler, TicketLookup
from gae_emu.apiserver.urlfetch import URLFetch
from gae_emu.apiserver.user import User
from gae_emu.runtime.hosts import local_hosts_only
from gae_emu.runtime.instance_server import WSGIRequestHandler, WSGIServer
from gae_emu.runtime.server import listen, wsgi_server

log = logging.getLogger("gae_emu.apiserver")
LOOPBACK = "127.0.0.1"


def service_handlers(services: Services, versions: Mapping[str, str]) -> List[ServiceHandler]:
    return [
        DatastoreV3(services.datastore),
        TaskQueue(services.taskqueue, services.datastore, services.hostnames),
        Memcache(services.memcache),
        Modules(services.hostnames, versions, services.default_service),
        User(),
        AppIdentity(services.app_id),
        Mail(services.mail),
        URLFetch(services.app_id),
        Blobstore(services.blobstore),
    ]


class _DebugLogHandler(WSGIRequestHandler):
    server_version = "gae-emu-apiserver"

    def log_request(self, code="-", size="-") -> None:  # type: ignore[override]
        log.debug('"%s %s" %s %s', self.command, self.path, code, size)

    def log_error(self, format: str, *args) -> None:  # type: ignore[override]
        log.warning(format, *args)


class ApiServer:
    """The `/rpc_http` endpoint of one emulator (bound at construction, served after `start()`)."""

    def __init__(self, services: Services, ticket_lookup: TicketLookup, port: int = 0,
                 versions: Optional[Mapping[str, str]] = None) -> None:
        self.app = RpcApp(service_handlers(services, versions or {}), ticket_lookup)
        # Loopback only, and local Host names only (as every port of the emulator): the API
        # answers anyone holding a live ticket.
        self._socket = listen(LOOPBACK, port, "the API server")
        self.host, self.port = LOOPBACK, self._socket.getsockname()[1]
        self._server: WSGIServer = wsgi_server(self._socket, local_hosts_only(self.app), _DebugLogHandler)
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
