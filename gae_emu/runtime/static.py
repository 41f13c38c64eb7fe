"""Serving `static_dir` and `static_files` handlers as App Engine's dev server does (B1).

Content-Type from `mime_type` or the extension; ETag is base64(str(crc32(data))); If-None-Match gives
304, If-Match mismatch 412; Expires from `expiration`/`default_expiration`, else 1990 (dev's choice);
`Cache-Control: public` unless the user's `http_headers` set it. A path that resolves outside its
directory (`..`, encoded or not, or a symlink pointing out) is a 404.

Imports: the standard library, werkzeug, `gae_emu.config.models`.
"""
from __future__ import annotations

import base64
import mimetypes
import re
import time
import zlib
from email.utils import formatdate
from pathlib import Path
from typing import Optional

from werkzeug.wrappers import Request, Response

from gae_emu.config.models import AppConfig, Handler

NEVER_EXPIRES_DEV = "Fri, 01 Jan 1990 00:00:00 GMT"


class NoMatchingFile(Exception):
    """The handler matched but has no file for this path (falls through with require_matching_file)."""


def resolve_static_path(handler: Handler, app: AppConfig, match: re.Match) -> Optional[Path]:
    """The file a request maps to, or None if it would leave the allowed directory."""
    if handler.static_dir is not None:
        base = handler.static_dir.resolve()
        rest = _static_dir_rest(handler, match)
        candidate = (base / rest).resolve()
    else:
        relative = match.expand(handler.static_files or "")
        if handler.upload and not re.fullmatch(handler.upload, relative):
            return None
        base = app.root.resolve()
        candidate = (base / relative).resolve()
    try:
        candidate.relative_to(base)
    except ValueError:
        return None
    return candidate


def _static_dir_rest(handler: Handler, match: re.Match) -> str:
    """For static_dir, the url is a prefix: the path after it names the file inside the dir."""
    path = match.string
    prefix = handler.url.rstrip("/")
    rest = path[len(prefix) :] if path.startswith(prefix) else ""
    return rest.lstrip("/")


def serve_static(request: Request, handler: Handler, app: AppConfig, match: re.Match) -> Response:
    if "\x00" in match.string:  # no file name holds one; the OS would refuse it with ValueError
        return Response("Bad Request: a NUL byte in the path", status=400, mimetype="text/plain")
    path = resolve_static_path(handler, app, match)
    if path is None:
        return Response("Not Found", status=404, mimetype="text/plain")
    try:
        is_file = path.is_file()
    except OSError:  # a name too long for the file system, and the like: no such file here
        is_file = False
    if not is_file:
        if handler.require_matching_file:
            raise NoMatchingFile(str(path))
        return Response("Not Found", status=404, mimetype="text/plain")
    try:
        data = path.read_bytes()
    except OSError:
        return Response("Forbidden", status=403, mimetype="text/plain")
    etag = '"%s"' % base64.b64encode(str(zlib.crc32(data)).encode()).decode()
    headers = [("ETag", etag)]
    expiration = handler.expiration if handler.expiration is not None else app.default_expiration
    if expiration is not None:
        headers.append(("Expires", formatdate(time.time() + expiration, usegmt=True)))
        cache_control = f"public, max-age={expiration}"
    else:
        headers.append(("Expires", NEVER_EXPIRES_DEV))
        cache_control = "public"
    if not any(k.lower() == "cache-control" for k, _ in handler.http_headers):
        headers.append(("Cache-Control", cache_control))
    headers.extend(handler.http_headers)
    content_type = handler.mime_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if_match = request.headers.get("If-Match")
    if if_match and if_match != "*" and etag not in [t.strip() for t in if_match.split(",")]:
        return Response(status=412, headers=headers)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and (if_none_match.strip() == "*" or etag in [t.strip() for t in if_none_match.split(",")]):
        return Response(status=304, headers=headers)
    body = b"" if request.method == "HEAD" else data
    response = Response(body, headers=headers, content_type=content_type)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(data))
    return response
