"""`DatastoreServer`: the Cloud Datastore v1 API on one loopback port, for `DATASTORE_EMULATOR_HOST`.

Bound in the constructor (so the port is known, and a busy one reported, before any instance
starts with the variable in its environment); `start()` serves; `stop()` ends calls in flight.

Imports: the standard library, grpc, `gae_emu.services.datastore`, this package.
"""
from __future__ import annotations

import logging

from gae_emu.cloud.datastore.api import DatastoreV1
from gae_emu.cloud.datastore.grpc_server import grpc_server
from gae_emu.services.datastore import DatastoreService

log = logging.getLogger("gae_emu.cloud.datastore")
LOOPBACK = "127.0.0.1"


class PortInUse(Exception):
    """The Datastore API's port could not be bound."""


class DatastoreServer:
    """The v1 API of one datastore service (gRPC), loopback only."""

    def __init__(self, service: DatastoreService, port: int = 0, host: str = LOOPBACK) -> None:
        self.api = DatastoreV1(service)
        self._grpc = grpc_server(self.api)
        try:
            bound = self._grpc.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:
            raise PortInUse(f"the Cloud Datastore API cannot listen on {host}:{port} (is the port in use?)")
        self.host, self.port = host, bound

    @property
    def address(self) -> str:
        """What DATASTORE_EMULATOR_HOST holds: host:port."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self._grpc.start()
        log.info("Cloud Datastore API (v1, gRPC) at %s", self.address)

    def stop(self, grace: float = 1.0) -> None:
        self._grpc.stop(grace).wait()
