"""The development error page: an exception in app code that gae-emu runs in its own process (a
classic service) answers a local browser with the traceback, as Flask's and Django's debug pages do.

Only for requests from this machine (a loopback REMOTE_ADDR) that a user made: never for the task
queue's or cron's requests (their handlers' tracebacks go to the console; the status is what the
queue acts on). Production answers a bare 500; so does gae-emu for everyone else. Everything shown is
HTML-escaped. No interactive console: the page only shows.

Imports: the standard library, werkzeug.wrappers, `gae_emu.runtime.environ`.
"""
from __future__ import annotations

import ipaddress
from html import escape
from typing import Optional

from werkzeug.wrappers import Response

from gae_emu.runtime.environ import is_internal


def is_local_user_request(environ: dict) -> bool:
    if is_internal(environ):
        return False
    try:
        return ipaddress.ip_address(environ.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def development_error_page(environ: dict, script: str, traceback_text: str) -> Optional[Response]:
    """A 500 page with the traceback for a local user's request, else None (the plain page)."""
    if not is_local_user_request(environ):
        return None
    request = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>500 Internal Server Error</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow:auto}"
        ".note{color:#666}</style></head><body>"
        f"<h1>{escape(traceback_text.strip().splitlines()[-1])}</h1>"
        f"<p>in <code>{escape(script)}</code> for <code>{escape(request)}</code></p>"
        f"<pre>{escape(traceback_text)}</pre>"
        "<p class='note'>gae-emu shows this page to requests from this machine only; App Engine, and "
        "gae-emu for anyone else, answers a plain 500.</p></body></html>"
    )
    return Response(body, status=500, content_type="text/html; charset=utf-8")
