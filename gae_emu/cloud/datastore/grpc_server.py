"""The Datastore v1 gRPC service (`google.datastore.v1.Datastore`) on grpcio, loopback only.

Requests are parsed with Google's published message classes and handed to `DatastoreV1`; a
`CloudError` becomes the call's status and message. Nothing else runs in the handlers: no
reflection, no authentication (the clients send none to an emulator).

Imports: the standard library, grpc, this package.
"""
from __future__ import annotations

import logging
from concurrent import futures
from typing import Any, Callable

import grpc

from gae_emu.cloud.datastore.api import DatastoreV1
from gae_emu.cloud.datastore.errors import CloudError

log = logging.getLogger("gae_emu.cloud.datastore")
SERVICE = "google.datastore.v1.Datastore"
MAX_MESSAGE = 64 * 1024 * 1024  # larger than any request the service accepts (10 MiB commits)


def _handler(method: str, request_class: Any, fn: Callable[[Any], Any]) -> grpc.RpcMethodHandler:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(request)
        except CloudError as exc:
            log.debug("%s: %s %s", method, exc.code, exc.message)
            context.abort(grpc.StatusCode[exc.code], exc.message)
        except Exception:
            log.exception("Datastore %s failed", method)
            context.abort(grpc.StatusCode.INTERNAL, f"gae-emu failed to answer {method}; see its log")

    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=request_class.FromString, response_serializer=lambda m: m.SerializeToString())


def grpc_server(api: DatastoreV1, max_workers: int = 32) -> grpc.Server:
    """A server with the Datastore service registered (no port bound yet)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="datastore-v1"),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
                 ("grpc.so_reuseport", 0)])
    handlers = {name: _handler(name, cls, fn) for name, (cls, fn) in api.methods().items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return server
