"""`/_ah/login` and `/_ah/logout`, as dev_appserver serves them (B2).

GET without `action` shows a form (email, "Sign in as administrator"). `action=Login` (GET or POST,
with `email`, `admin=True` and `continue`) sets the `dev_appserver_login` cookie and redirects;
`action=Logout` or `/_ah/logout` clears it. Only same-site `continue` targets are followed, so the
login page cannot be used as an open redirect.
"""
from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

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


def _safe_continue(request: Request) -> str:
    target = request.values.get("continue") or "/"
    parts = urlsplit(target)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return "/"
    if parts.netloc and parts.netloc.lower() != request.host.lower() and not parts.netloc.lower().endswith(
        "." + request.host.lower()
    ):
        return "/"
    return target


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
