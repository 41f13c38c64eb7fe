"""The `login:` check App Engine runs before a handler (B2), as a response or None.

`login: required` without a user: 302 to /_ah/login (or 401 with `auth_fail_action: unauthorized`);
`login: admin` with a non-admin: 401. Requests the emulator makes itself count as admin.

Imports: the standard library, werkzeug, `gae_emu.config.models`, `gae_emu.runtime.environ`.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from gae_emu.config.models import Handler
from gae_emu.runtime.environ import is_internal, request_user

LOGIN_URL = "/_ah/login"
LOGOUT_URL = "/_ah/logout"


def login_url(continue_url: str) -> str:
    return f"{LOGIN_URL}?continue={quote(continue_url, safe='')}"


def check_login(request: Request, handler: Handler) -> Optional[Response]:
    """None when the request may reach the handler, else the response App Engine gives."""
    if handler.login == "optional":
        return None
    admin_only = handler.login == "admin"
    user = request_user(request.environ)
    internal = is_internal(request.environ)
    if user is None and not (internal and admin_only):
        if handler.auth_fail_action == "unauthorized":
            return Response(
                "Login required to view page.",
                status=401,
                content_type="text/html",
                headers={"Cache-Control": "no-cache"},
            )
        return Response(
            "Requires login",
            status=302,
            headers={"Location": request.host_url + login_url(request.url)[1:]},
        )
    if admin_only and not internal and not (user is not None and user.is_admin):
        return Response(
            f"Current logged in user {user.email if user else ''} is not authorized to view this page.",
            status=401,
            content_type="text/html",
            headers={"Cache-Control": "no-cache"},
        )
    return None
