"""One service's request path: App Engine's request rules, first-match handlers, login, the app call.

Order of work per request (B1, B2, B3): take the login cookie, strip App Engine headers an outside
client may not set, refuse bodies on GET-like methods (bodies over 32 MB never get here: `bodylimit`
refuses them at every port), redirect a non-normalised path, then the first handler whose `url`
matches the *path* (anchored) wins: its `login:` rule, then a static file or the script. A python3
service's script is its instance process (forwarded over loopback HTTP); a built-in or classic script
is a WSGI app called in-process with App Engine's environ. An app that raises gets a 500 page (with
the traceback for a local user: devpage.py) and a logged traceback; the server keeps serving. An
instance that cannot take the request gives 503 with the reason.

Imports: the standard library, werkzeug, `gae_emu.config`, `gae_emu.apiproxy`, `gae_emu.runtime.*`.
"""
from __future__ import annotations

import contextlib
import logging
import posixpath
import time
import traceback
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple

from werkzeug.wrappers import Request, Response

from gae_emu import apiproxy
from gae_emu.config.models import AppConfig, Handler
from gae_emu.runtime.blobserving import serve_blob
from gae_emu.runtime.devpage import development_error_page
from gae_emu.runtime.environ import (
    WARMUP_KEY,
    ServiceIdentity,
    app_environ,
    new_request_id,
    strip_untrusted_headers,
)
from gae_emu.runtime.instances import Instance, InstanceUnavailable
from gae_emu.runtime.loader import ScriptLoader, ScriptLoadError
from gae_emu.runtime.proxy import InstanceGone
from gae_emu.runtime.login import check_login
from gae_emu.runtime.requestlog import SERVICE_KEY
from gae_emu.runtime.static import NoMatchingFile, serve_static
from gae_emu.runtime.tickets import LiveRequests
from gae_emu.runtime.uploads import UPLOAD_PREFIX, handle_upload

log = logging.getLogger("gae_emu.request")

BODYLESS_METHODS = ("GET", "HEAD", "DELETE", "TRACE")
SERVER_ERROR = "The server encountered an error and could not complete your request."
RequestListener = Callable[[dict, int, float, Any], None]  # (environ, status, seconds, response)


class ServiceRouter:
    """A WSGI app serving one service: built-in handlers first, then the app's, first match wins."""

    def __init__(
        self,
        identity: ServiceIdentity,
        builtin_handlers: Sequence[Handler] = (),
        loader: Optional[ScriptLoader] = None,
        listeners: Iterable[RequestListener] = (),
        tickets: Optional[LiveRequests] = None,
    ) -> None:
        self.identity = identity
        self.app: AppConfig = identity.app
        self.handlers: tuple = tuple(builtin_handlers) + tuple(identity.app.handlers)
        self.loader = loader or ScriptLoader(identity.app.root)
        self.listeners = list(listeners)
        self.tickets = tickets  # API tickets live while a script runs (for the API server, issue 7)
        self.instance: Optional[Instance] = None  # a python3 service's instance process

    def match(self, path: str) -> Optional[Handler]:
        """The first handler whose url matches `path` (for `gae-emu check` and tests)."""
        for handler in self.handlers:
            if handler.pattern.match(path):
                return handler
        return None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return self.handle(environ)(environ, start_response)

    def handle(self, environ: dict) -> "Response | BufferedResponse":
        """Serve one request (external or the emulator's own) and tell the listeners."""
        started = time.perf_counter()
        environ[SERVICE_KEY] = self.identity.app.service
        response = self.respond(environ)
        for listener in self.listeners:
            try:
                listener(environ, response.status_code, time.perf_counter() - started, response)
            except Exception:  # a broken listener must not break the request
                log.exception("request listener failed")
        return response

    def respond(self, environ: dict) -> "Response | BufferedResponse":
        strip_untrusted_headers(environ)
        request = Request(environ)
        early = self._request_rules(request)
        if early is not None:
            return early
        path = request.path
        if path.startswith(UPLOAD_PREFIX):  # the front end's blobstore uploads (issue 16)
            return handle_upload(environ, self.respond)
        for handler in self.handlers:
            match = handler.pattern.match(path)
            if match is None:
                continue
            refused = check_login(request, handler)
            if refused is not None:
                return refused
            if handler.script is None:
                try:
                    return serve_static(request, handler, self.app, match)
                except NoMatchingFile:
                    continue  # require_matching_file: the next handler gets a chance
            return serve_blob(self._call_script(handler, environ), environ)  # X-AppEngine-BlobKey
        return Response("Not Found", status=404, mimetype="text/plain")

    def _request_rules(self, request: Request) -> Optional[Response]:
        method = request.method.upper()
        try:
            length = int(request.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return Response("Bad Content-Length", status=400, mimetype="text/plain")
        if method in BODYLESS_METHODS and length > 0:
            return Response(f'"{method}" requests may not contain bodies.', status=400, mimetype="text/plain")
        path = request.path
        normalised = posixpath.normpath(path) if path not in ("", "/") else "/"
        if path.endswith("/") and normalised != "/":
            normalised += "/"
        if normalised.startswith("//"):
            normalised = "/" + normalised.lstrip("/")
        if normalised != path:
            query = request.query_string.decode("latin-1")
            location = normalised + (f"?{query}" if query else "")
            return Response("", status=302, headers={"Location": location})
        return None

    def _call_script(self, handler: Handler, environ: dict) -> "Response | BufferedResponse":
        assert handler.script is not None
        request_id = new_request_id()
        app_environ(environ, self.identity, request_id)
        if self.instance is not None and not handler.script.builtin:
            return self._forward(environ, request_id)
        try:
            wsgi_app = self.loader.load(handler.script)
        except ScriptLoadError as exc:
            log.error("%s: %s", handler.source or handler.url, exc)
            return _error_page(f"Could not load the handler's application: {exc}")
        try:
            with apiproxy.serving(environ), self._ticket_live(request_id, environ):
                status, headers, body = call_buffered(wsgi_app, environ)
            return BufferedResponse(status, headers, body)  # a malformed status line is the app's error too
        except Exception:
            log.exception("Uncaught exception in %s for %s %s", handler.script, environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            page = development_error_page(environ, str(handler.script), traceback.format_exc())
            return page or _error_page(SERVER_ERROR)

    def _ticket_live(self, request_id: str, environ: dict):
        """The request id doubles as the API ticket (X-AppEngine-Dev-Request-Id): the API server
        accepts calls carrying it only while the app is handling this request."""
        return self.tickets.live(request_id, environ) if self.tickets is not None else contextlib.nullcontext()

    def _forward(self, environ: dict, request_id: str) -> "Response | BufferedResponse":
        """The request, as the app would have seen it in-process, sent to the service's instance."""
        assert self.instance is not None
        try:
            with self._ticket_live(request_id, environ):
                status, headers, body = self.instance.forward(environ, wait=not environ.get(WARMUP_KEY))
            return BufferedResponse(status, headers, body)
        except InstanceUnavailable as exc:
            return _error_page(f"Service {self.app.service!r} is unavailable: {exc}", 503, "Service Unavailable")
        except InstanceGone as exc:
            log.error("service %s: %s %s: %s", self.app.service, environ.get("REQUEST_METHOD"),
                      environ.get("PATH_INFO"), exc)
            return _error_page(SERVER_ERROR)
        except ValueError as exc:  # a malformed status line from the instance is the app's error too
            log.error("service %s: malformed response: %s", self.app.service, exc)
            return _error_page(SERVER_ERROR)


class BufferedResponse:
    """A script's whole answer, passed on as it is: cheaper than building a werkzeug Response for
    every request (tasks are requests too). Quacks like one where the router's callers look."""

    __slots__ = ("status", "headers", "body", "status_code")

    def __init__(self, status: str, headers: list, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.status_code = int(status.split(" ", 1)[0])

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        headers = list(self.headers)
        if not any(k.lower() == "content-length" for k, _ in headers):
            headers.append(("Content-Length", str(len(self.body))))
        start_response(self.status, headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]

    def close(self) -> None:
        pass


def call_buffered(wsgi_app: Callable, environ: dict) -> Tuple[str, list, bytes]:
    """Call a WSGI app and collect its whole answer (App Engine buffers responses too)."""
    started: list = []
    written: list = []

    def start_response(status: str, headers: list, exc_info=None):
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return written.append

    app_iter = wsgi_app(environ, start_response)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the WSGI application returned without calling start_response")
    return started[0], started[1], b"".join(written) + body if written else body


def _error_page(message: str, status: int = 500, title: str = "Internal Server Error") -> Response:
    from html import escape

    body = (f"<html><head><title>{status} {title}</title></head><body><h1>Error: Server Error</h1>"
            f"<p>{escape(message)}</p></body></html>")
    return Response(body, status=status, content_type="text/html; charset=utf-8")
