"""The Cloud Tasks v2 API (gRPC) over the emulator's task queues, for apps using google-cloud-tasks.

`CloudTasksServer` binds a loopback port and serves `CloudTasksServicer`; its `address` is what
instances get as CLOUD_TASKS_EMULATOR_HOST. Its `execute` is the dispatcher's delivery: HTTP-target
tasks go out over HTTP with their tokens (`httptarget`, `oidc`), App Engine ones to the callable
the composition root gives it (the router's delivery); `keys_app` serves the tokens' public keys. Google's message classes come from the `[cloud]` extra
(google-cloud-tasks, grpcio): `library_available()` says whether they are installed, and nothing
here is imported until they are needed.

Imports: the standard library, grpc, google-cloud-tasks, `gae_emu.services.taskqueue`, `gae_emu.cloud`.
"""
from __future__ import annotations

from typing import Callable, Mapping

DEFAULT_LOCATION = "us-central1"


def library_available() -> bool:
    try:
        import grpc  # noqa: F401
        from google.cloud import tasks_v2  # noqa: F401
    except ImportError:
        return False
    return True


class CloudTasksServer:
    """The Cloud Tasks gRPC service of one emulator, on `host:port` (0: a free port)."""

    def __init__(self, taskqueue, project: str, app_engine: Callable, *, location: str = DEFAULT_LOCATION,
                 host: str = "127.0.0.1", port: int = 0, hostnames: Mapping[str, str] = {},
                 deadline: float = 600.0) -> None:
        from gae_emu.cloud.grpcserver import GrpcServer

        from .httptarget import HttpTargetDelivery
        from .names import Names
        from .oidc import TokenIssuer
        from .servicer import CloudTasksServicer

        self.app_engine = app_engine
        self.issuer = TokenIssuer()
        self.http = HttpTargetDelivery(self.issuer, deadline)
        self.names = Names(project, location)
        self.servicer = CloudTasksServicer(taskqueue, self.names, self.execute, hostnames)
        self.server = GrpcServer([self.servicer.handler()], host=host, port=port, name="cloud-tasks")

    def execute(self, record) -> int:
        """The dispatcher's delivery: HTTP targets over HTTP, App Engine targets through `app_engine`."""
        return self.http(record) if record.http is not None else self.app_engine(record)

    @property
    def keys_app(self) -> Callable:
        """The WSGI app serving the OIDC tokens' public keys (/jwks, /certs)."""
        return self.issuer.wsgi_app

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
