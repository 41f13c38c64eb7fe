"""The admin console's guards for state-changing requests: a CSRF token and a same-origin check.

- Forms carry a hidden `xsrf_token` field. The token is random, made once per running emulator
  and kept in memory (in the services' settings, so every port of one emulator shares it).
- JSON API POSTs must carry an `X-Requested-With` header instead: a cross-site page can only send
  it through a CORS preflight, which the console never grants, and a plain HTML form cannot set it.
- Any POST whose `Origin` (or, without one, `Referer`) names another host:port than the request's
  Host is refused, as dev_appserver's admin server refuses a foreign Origin.
- Non-local Host headers never get here: the app port's front door and the admin port's WSGI entry
  refuse them (DNS rebinding), both with `gae_emu.runtime.hosts.is_local_host`.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`, `gae_emu.runtime.hosts`.
"""
from __future__ import annotations

import hmac
import secrets
from typing import Optional, Tuple
from urllib.parse import urlsplit

from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Request

from gae_emu import apiproxy
from gae_emu.runtime.hosts import split_host

TOKEN_FIELD = "xsrf_token"
TOKEN_SETTING = "admin_xsrf_token"
API_HEADER = "X-Requested-With"
DEFAULT_PORTS = {"http": 80, "https": 443}


def xsrf_token() -> str:
    """This emulator's form token (made on first use; dict.setdefault keeps one under races)."""
    settings = apiproxy.current().settings
    token = settings.get(TOKEN_SETTING)
    if token is None:
        token = settings.setdefault(TOKEN_SETTING, secrets.token_urlsafe(32))
    return token


def _endpoint(netloc: str, scheme: str) -> Tuple[str, Optional[int]]:
    name, port = split_host(netloc)
    return name, port if port is not None else DEFAULT_PORTS.get(scheme)


def check_same_origin(request: Request) -> None:
    """Refuse a request whose Origin or Referer is not the host:port it was sent to."""
    own = _endpoint(request.host, request.scheme)
    for header in ("Origin", "Referer"):
        value = request.headers.get(header)
        if value is None:
            continue
        parts = urlsplit(value)
        # "null" is what sandboxed frames and some redirects send: never our own page.
        if value.strip() == "null" or not parts.netloc or _endpoint(parts.netloc, parts.scheme) != own:
            raise Forbidden(f"Cross-origin request refused: {header} {value!r} is not {request.host!r}.")
        return  # Origin, when present, is the stronger signal; Referer only stands in for it


def check_state_change(request: Request, api: bool) -> None:
    """Raise Forbidden unless a POST is same-origin and carries the API header or the form token."""
    check_same_origin(request)
    if api:
        if not request.headers.get(API_HEADER):
            raise Forbidden(f"JSON API requests that change state need an {API_HEADER} header.")
        return
    sent = request.form.get(TOKEN_FIELD, "")
    if not sent or not hmac.compare_digest(sent.encode("utf-8"), xsrf_token().encode("utf-8")):
        raise Forbidden("Missing or wrong xsrf_token: reload the page and try again.")
