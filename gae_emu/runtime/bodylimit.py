"""The request body cap every listening port of the emulator applies before any app sees a request.

Production refuses request bodies over 32 MB ("Upload limited to 32 megabytes.", REFERENCE B1); gae-emu
applies the same cap on every port: app requests, `/_ah/*` (the deferred handler, login, console),
the admin port and the API server, so a large body is never read into memory. Blob uploads
(`/_ah/upload/...`) are exempt: their session sets its own limits. A body declared too large is refused
before it is read, with `Connection: close`, so the server does not read the rest; a chunked body
is read up to the cap and refused the same way when it goes past it.

Imports: the standard library only.
"""
from __future__ import annotations

import io
from typing import Callable, Iterable

MAX_BODY = 32 * 1024 * 1024
EXEMPT_PREFIXES = ("/_ah/upload/",)
TOO_LARGE = b"Upload limited to 32 megabytes."


def _refuse(environ: dict, start_response: Callable, status: str, body: bytes) -> Iterable[bytes]:
    # `Connection: close` makes the server end the connection after the answer instead of reading
    # (draining) the body it was not given.
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("Connection", "close")])
    return [body]


def limit_body(app: Callable, limit: int = MAX_BODY) -> Callable:
    """Wrap a WSGI app so request bodies over `limit` bytes get 413 and the connection closes."""

    def capped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") or "").startswith(EXEMPT_PREFIXES):
            return app(environ, start_response)
        declared = environ.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return _refuse(environ, start_response, "400 Bad Request", b"Bad Content-Length")
            if length > limit:
                return _refuse(environ, start_response, "413 Request Entity Too Large", TOO_LARGE)
        elif "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower():
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _refuse(environ, start_response, "413 Request Entity Too Large", TOO_LARGE)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
        return app(environ, start_response)

    return capped
