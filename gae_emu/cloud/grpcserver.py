"""`GrpcServer`: a grpcio server on one loopback port, insecure (as the Cloud client libraries
expect of an emulator), serving the generic handlers a front door gives it, and `unary()`, which
wraps a method into a unary-unary handler with its messages' (de)serializers.

Imports: the standard library and grpc.
"""
from __future__ import annotations

import logging
from concurrent import futures
from typing import Any, Callable, Dict, Sequence

import grpc

log = logging.getLogger("gae_emu.cloud")


class GrpcPortInUseError(OSError):
    """The port asked for could not be bound."""


def unary(method: Callable[[Any, grpc.ServicerContext], Any], request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    """A unary-unary handler; the types offer `deserialize(bytes)` / `serialize(message)`
    (proto-plus classes) or are protobuf classes (`FromString` / `SerializeToString`)."""
    decode = getattr(request_type, "deserialize", None) or request_type.FromString
    encode = getattr(response_type, "serialize", None) or (lambda m: m.SerializeToString())
    return grpc.unary_unary_rpc_method_handler(method, request_deserializer=decode, response_serializer=encode)


def generic_handler(service: str, methods: Dict[str, grpc.RpcMethodHandler]) -> grpc.GenericRpcHandler:
    """Handlers of the fully qualified `service` (e.g. google.cloud.tasks.v2.CloudTasks)."""
    return grpc.method_handlers_generic_handler(service, methods)


class GrpcServer:
    def __init__(self, handlers: Sequence[grpc.GenericRpcHandler], host: str = "127.0.0.1", port: int = 0,
                 max_workers: int = 16, name: str = "grpc") -> None:
        self.host = host
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"gae-emu-{name}"),
            handlers=list(handlers),
            options=[("grpc.so_reuseport", 0)],  # a taken port must fail, not be shared
        )
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:  # grpcio raises on a port it cannot bind
            raise GrpcPortInUseError(f"cannot bind {host}:{port} for the {name} server: {exc}") from None
        if not self.port:
            raise GrpcPortInUseError(f"cannot bind {host}:{port} for the {name} server (in use?)")

    @property
    def address(self) -> str:
        """host:port, as clients are given it (e.g. CLOUD_TASKS_EMULATOR_HOST)."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait(grace + 1.0)
