"""`DatastoreServer`: the Cloud Datastore v1 API, gRPC and REST, on one loopback port (what
`DATASTORE_EMULATOR_HOST` names).

The caller binds the public socket (so a busy port is reported before anything starts, and the
port is known before instances start with the variable in their environment); gRPC and the REST app
listen on private loopback ports behind a `PortShare`. The REST side answers local Host names only,
as every HTTP port of the emulator does (a web page cannot reset the datastore by DNS rebinding).

Imports: the standard library, grpc, werkzeug, `gae_emu.runtime.hosts`/`server`,
`gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Optional, Sequence

from gae_emu.cloud.datastore.api import DatastoreV1
from gae_emu.cloud.datastore.grpc_server import grpc_server
from gae_emu.cloud.datastore.rest import RestApp
from gae_emu.cloud.portshare import PortShare
from gae_emu.runtime.hosts import local_hosts_only
from gae_emu.runtime.server import listen, wsgi_server
from gae_emu.services.datastore import DatastoreService

log = logging.getLogger("gae_emu.cloud.datastore")
LOOPBACK = "127.0.0.1"


class DatastoreServer:
    """The v1 API of one datastore service on the listening socket `sock`."""

    def __init__(self, service: DatastoreService, sock: socket.socket,
                 allowed_hosts: Sequence[str] = ()) -> None:
        self.service = service
        self.api = DatastoreV1(service)
        self.host, self.port = sock.getsockname()[:2]
        self._grpc = grpc_server(self.api)
        grpc_port = self._grpc.add_insecure_port(f"{LOOPBACK}:0")
        self._http_socket = listen(LOOPBACK, 0, "the Cloud Datastore REST API")
        rest = RestApp(self.api, self.reset)
        self._http = wsgi_server(self._http_socket, local_hosts_only(rest, tuple(allowed_hosts)))
        self._http_thread: Optional[threading.Thread] = None
        self._share = PortShare(sock, (LOOPBACK, grpc_port), self._http_socket.getsockname()[:2])

    @property
    def address(self) -> str:
        """What DATASTORE_EMULATOR_HOST holds: host:port."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self._grpc.start()
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="http-datastore-v1", daemon=True)
        self._http_thread.start()
        self._share.start()

    def stop(self, grace: float = 1.0) -> None:
        self._share.stop()
        if self._http_thread is not None:
            self._http.shutdown()
        self._http.server_close()
        self._http_socket.close()
        self._grpc.stop(grace).wait()

    def reset(self) -> None:
        """`POST /reset`: delete every entity (ids already handed out stay used)."""
        log.info("Cloud Datastore API: /reset deletes every entity")
        self.service.reset()
