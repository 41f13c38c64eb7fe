"""The Cloud Tasks v2 API (gRPC) over the emulator's task queues, for apps using google-cloud-tasks.

`CloudTasksServer` binds a loopback port and serves `CloudTasksServicer`; its `address` is what
instances get as CLOUD_TASKS_EMULATOR_HOST. Google's message classes come from the `[cloud]` extra
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

    def __init__(self, taskqueue, project: str, execute: Callable, *, location: str = DEFAULT_LOCATION,
                 host: str = "127.0.0.1", port: int = 0, hostnames: Mapping[str, str] = {}) -> None:
        from gae_emu.cloud.grpcserver import GrpcServer

        from .names import Names
        from .servicer import CloudTasksServicer

        self.names = Names(project, location)
        self.servicer = CloudTasksServicer(taskqueue, self.names, execute, hostnames)
        self.server = GrpcServer([self.servicer.handler()], host=host, port=port, name="cloud-tasks")

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
