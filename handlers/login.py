"""`/_ah/login` and `/_ah/logout`, as dev_appserver serves them (B2).

GET without `action` shows a form (email, "Sign in as administrator"). `action=Login` (GET or POST,
with `email`, `admin=True` and `continue`) sets the `dev_appserver_login` cookie and redirects;
`action=Logout` or `/_ah/logout` clears it. Only same-site `continue` targets are followed, so the
login page cannot be used as an open redirect.
"""
from __future__ import annotations

import re
from html import escape
from typing import Optional, Tuple
from urllib.parse import quote, urlsplit

from werkzeug.wrappers import Request, Response

from gae_emu.services.users import COOKIE_NAME, DEFAULT_LOGIN_EMAIL, cookie_value, user_from_cookie

FORM = """<!doctype html>
<html><head><meta charset="utf-8"><title>Login</title>
<style>body{{font-family:sans-serif;margin:3em}}form{{max-width:22em}}label{{display:block;margin:.6em 0}}</style>
</head><body>
<h1>Not a real login</h1>
<p>This is gae-emu's stand-in for Google accounts. {status}</p>
<form method="post" action="/_ah/login">
<label>Email: <input type="text" name="email" value="{email}" id="email"></label>
<label><input type="checkbox" name="admin" value="True" id="admin"> Sign in as administrator</label>
<input type="hidden" name="continue" value="{continue_url}">
<button type="submit" name="action" value="Login">Log In</button>
<button type="submit" name="action" value="Logout">Log Out</button>
</form></body></html>
"""


_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a Location header may carry as they are; anything else is percent-encoded.
_LOCATION_SAFE = "/?#&=;:@!$'()*+,%-._~[]"


def _browser_normal(target: str) -> str:
    """The URL as a browser reads it (WHATWG URL parsing): tabs and newlines anywhere are dropped,
    leading and trailing controls and spaces are trimmed, and a backslash is a slash."""
    target = re.sub(r"[\t\n\r]", "", target).strip("".join(map(chr, range(0x21))))
    return target.replace("\\", "/")


def _origin(scheme: str, netloc: str) -> Optional[Tuple[str, str, int]]:
    """(scheme, host, port) of an authority, or None if it is malformed or carries user info."""
    if "@" in netloc:
        return None
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return scheme.lower(), parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme.lower(), 0)


def safe_continue(target: Optional[str], request_scheme: str, request_host: str) -> str:
    """Where `continue=` may send the browser: a path on this site, or an absolute http(s) URL
    whose scheme, host and port are the request's. Anything else (`//evil`, `////evil`,
    `/\\evil`, `http:evil`, `http:///evil`, `javascript:`...) becomes `/`, so the login page
    is never an open redirect."""
    target = _browser_normal(target or "")
    if not target:
        return "/"
    scheme = _SCHEME_RE.match(target)
    if scheme:
        rest = target[scheme.end():]
        # Browsers skip any number of slashes after a special scheme (`http:evil`, `http:///evil`),
        # so only the exact `scheme://authority` form has an authority we can check.
        if not rest.startswith("//") or rest.startswith("///"):
            return "/"
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        wanted = _origin(request_scheme, request_host)
        if wanted is None or _origin(scheme.group(1), authority) != wanted:
            return "/"
    elif not target.startswith("/") or target.startswith("//"):
        return "/"  # relative paths and protocol-relative `//host` are not same-site paths
    return quote(target, safe=_LOCATION_SAFE)


def _safe_continue(request: Request) -> str:
    return safe_continue(request.values.get("continue"), request.scheme, request.host)


def _redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location})


@Request.application
def application(request: Request) -> Response:
    action = (request.values.get("action") or "").lower()
    if request.path == "/_ah/logout":
        action = "logout"
    continue_url = _safe_continue(request)
    if action == "login":
        email = (request.values.get("email") or "").strip()
        if "@" not in email:
            return Response(f"Invalid email address: {escape(email)}", status=400, mimetype="text/plain")
        admin = (request.values.get("admin") or "").lower() == "true"
        response = _redirect(continue_url)
        response.set_cookie(COOKIE_NAME, cookie_value(email, admin), path="/", httponly=True, samesite="Lax")
        return response
    if action == "logout":
        response = _redirect(continue_url)
        response.set_cookie(COOKIE_NAME, "", path="/", max_age=0)
        return response
    user = user_from_cookie(request.cookies.get(COOKIE_NAME))
    status = f"Logged in as {escape(user.email)}{' (administrator)' if user.is_admin else ''}." if user else "Not logged in."
    body = FORM.format(status=status, email=escape(user.email if user else DEFAULT_LOGIN_EMAIL), continue_url=escape(continue_url))
    return Response(body, content_type="text/html; charset=utf-8")
