"""The WSGI app behind `POST /rpc_http`: decode a `remote_api` Request, check its ticket, call the
service handler, encode the Response.

Every call answers HTTP 200 with a `Response` (REFERENCE, transport section): the handler's reply in
`response`, or `application_error` / `rpc_error`; an HTTP error would reach the app as a bare
`RPCFailedError`. Only other paths and methods get HTTP errors, as they are not API calls.

The ticket (`Request.request_id`) must name a request the emulator is serving right now: the runtime
hands in `ticket_lookup(ticket) -> that request's WSGI environ or None`, so an unknown or finished
ticket is refused with `rpc_error SECURITY_VIOLATION`, and handlers can see the calling request (its
Host, its user) through `Call.environ`.

Imports: the standard library, this package.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple

from gae_emu.apiserver.errors import ApplicationError, RpcCode, RpcError, call_not_found
from gae_emu.apiserver.protos import pb

log = logging.getLogger("gae_emu.apiserver")

RPC_PATH = "/rpc_http"
TicketLookup = Callable[[str], Optional[Mapping[str, Any]]]


@dataclass(frozen=True)
class Call:
    """One API call as a handler sees it."""

    service: str
    method: str
    ticket: str
    environ: Mapping[str, Any]  # the WSGI environ of the request that holds the ticket


Handler = Callable[[Any, Call], Optional[Any]]  # (request message, call) -> response message or None
Method = Tuple[type, Handler]  # the request's message class, and the handler


class ServiceHandler:
    """Base of the per-service modules: `name` on the wire and a table of methods.

    `bad_request` is the service's application error code for a malformed request (datastore_v3's
    BAD_REQUEST); without one, a malformed request is the transport's `rpc_error BAD_REQUEST`."""

    name: str = ""
    bad_request: Optional[int] = None

    def methods(self) -> Dict[str, Method]:
        raise NotImplementedError


class RpcApp:
    """The API server's WSGI application."""

    def __init__(self, handlers: Iterable[ServiceHandler], ticket_lookup: TicketLookup) -> None:
        self._handlers = list(handlers)
        self._methods: Optional[Dict[Tuple[str, str], Method]] = None
        self._bad_request = {h.name: h.bad_request for h in self._handlers}
        self.ticket_lookup = ticket_lookup

    def methods(self) -> Dict[Tuple[str, str], Method]:
        if self._methods is None:  # built on first call: the tables name Google's message classes
            self._methods = {(h.name, name): m for h in self._handlers for name, m in h.methods().items()}
        return self._methods

    def __call__(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        if environ.get("PATH_INFO") != RPC_PATH:
            return _plain(start_response, "404 Not Found", "gae-emu API server: POST /rpc_http only")
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, "405 Method Not Allowed", "gae-emu API server: POST /rpc_http only")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        reply = self.handle(body)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(reply)))])
        return iter([reply])

    def handle(self, body: bytes) -> bytes:
        """One serialized Request in, one serialized Response out (errors included)."""
        remote_api = pb().remote_api
        out = remote_api.Response()
        service = method = "?"
        try:
            request = remote_api.Request()
            try:
                request.ParseFromString(body)
            except Exception as exc:  # DecodeError, or a message missing required fields
                raise RpcError(RpcCode.PARSE_ERROR, f"not a remote_api Request: {exc}") from None
            service, method = request.service_name, request.method
            reply = self.call(service, method, request.request_id, request.request)
            if reply is not None:
                out.response = reply.SerializeToString()
        except ApplicationError as exc:
            out.application_error.code, out.application_error.detail = exc.code, exc.detail
        except RpcError as exc:
            out.rpc_error.code, out.rpc_error.detail = exc.code, exc.detail
        except Exception as exc:  # a bug of ours: the app gets an error it can read, we get the trace
            log.exception("API call %s.%s failed", service, method)
            out.rpc_error.code = RpcCode.UNKNOWN
            out.rpc_error.detail = f"gae-emu API server error in {service}.{method}: {type(exc).__name__}: {exc}"
        return out.SerializeToString()

    def call(self, service: str, method: str, ticket: str, payload: bytes) -> Optional[Any]:
        environ = self.ticket_lookup(ticket) if ticket else None
        if environ is None:
            raise RpcError(RpcCode.SECURITY_VIOLATION,
                           f"unknown API ticket {ticket!r}: gae-emu accepts API calls only from requests it is serving")
        entry = self.methods().get((service, method))
        if entry is None:
            raise call_not_found(service, method)
        request_type, handler = entry
        request = request_type()
        try:
            request.ParseFromString(payload)
        except Exception as exc:
            raise RpcError(RpcCode.PARSE_ERROR, f"{service}.{method}: bad {request_type.__name__}: {exc}") from None
        field = invalid_utf8_field(request)
        if field is not None:
            detail = f"{service}.{method}: {field} is not valid UTF-8"
            code = self._bad_request.get(service)
            raise ApplicationError(code, detail) if code is not None else RpcError(RpcCode.BAD_REQUEST, detail)
        log.debug("API call %s.%s", service, method)
        return handler(request, Call(service, method, ticket, environ))


def invalid_utf8_field(message: Any, prefix: str = "") -> Optional[str]:
    """The path of the first `string` field holding bytes that are not UTF-8, or None.

    Google's runtime hands such a proto2 string over as `bytes` instead of `str`; every `string`
    field of the API protos is a name (kinds, namespaces, properties, modules), which production
    requires to be UTF-8, while binary data travels in `bytes` fields. Messages that cannot hold a
    string anywhere (memcache's) are not walked, and a path is spelled only when one is found."""
    if not _may_hold_strings(message.DESCRIPTOR):
        return None
    for field, value in message.ListFields():
        kind = field.type
        if kind == _STRING:
            if isinstance(value, bytes) or (_repeated(field) and any(isinstance(v, bytes) for v in value)):
                return prefix + field.name
        elif kind in _MESSAGE_TYPES:
            if _repeated(field):
                for index, item in enumerate(value):
                    found = invalid_utf8_field(item)
                    if found:
                        return f"{prefix}{field.name}[{index}].{found}"
            else:
                found = invalid_utf8_field(value)
                if found:
                    return f"{prefix}{field.name}.{found}"
    return None


_STRING, _MESSAGE_TYPES = 9, (10, 11)  # FieldDescriptor.TYPE_STRING, TYPE_GROUP, TYPE_MESSAGE
_HOLDS_STRINGS: Dict[Any, bool] = {}  # message descriptor -> a string field in it or below it


def _may_hold_strings(descriptor: Any, path: Tuple[Any, ...] = ()) -> bool:
    found = _HOLDS_STRINGS.get(descriptor)
    if found is None:
        if descriptor in path:
            return True  # a recursive message: assume so (walking it is never wrong)
        found = any(field.type == _STRING
                    or (field.type in _MESSAGE_TYPES and _may_hold_strings(field.message_type, path + (descriptor,)))
                    for field in descriptor.fields)
        _HOLDS_STRINGS[descriptor] = found
    return found


def _repeated(field: Any) -> bool:
    return bool(field.is_repeated) if hasattr(field, "is_repeated") else field.label == 3


def _plain(start_response: Callable, status: str, text: str) -> Iterator[bytes]:
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return iter([body])
