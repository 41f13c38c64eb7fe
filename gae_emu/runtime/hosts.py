"""Which Host headers count as local (dev_appserver's host checking, against DNS rebinding).

Imports: the standard library only.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from typing import Callable, Iterable, Optional, Tuple


def split_host(host: str) -> Tuple[str, Optional[int]]:
    """'worker.localhost:8080' -> ('worker.localhost', 8080); '[::1]:80' -> ('::1', 80)."""
    host = host.strip()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    try:
        return name.lower().rstrip("."), int(port) if port else None
    except ValueError:
        return name.lower().rstrip("."), None


def local_hosts_only(app: Callable, extra_names: Iterable[str] = ()) -> Callable:
    """Wrap a WSGI app so a request whose Host is not a local name gets 400, as dev_appserver's
    host checking answers: a web page cannot reach the emulator through DNS rebinding."""
    extra = tuple(extra_names)

    def checked(environ: dict, start_response: Callable):
        host = environ.get("HTTP_HOST", "")
        if is_local_host(host, extra):
            return app(environ, start_response)
        body = (f"Request host {host or '(none)'} is not whitelist enabled: only local hosts are "
                "served (see --allow-host).").encode("utf-8")
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                           ("Content-Length", str(len(body)))])
        return [body]

    return checked


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A Host header as RFC 7230 allows it for us: a DNS name (optional final dot) or an IPv4 address, or a
# bracketed IPv6 address; then an optional decimal port. Anything else (`evil.example#.localhost`,
# `localhost:abc`, user info, spaces) is malformed and never served.
_HOST_RE = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?")


def is_well_formed_host(host: str) -> bool:
    match = _HOST_RE.fullmatch(host)
    return match is not None and (match.group("port") is None or 0 < int(match.group("port")) < 65536)


def is_local_host(host: str, extra_names: Iterable[str] = ()) -> bool:
    """True for well-formed Host values naming localhost, *.localhost, a loopback address, or a name
    the user allowed explicitly."""
    return _is_local_host(host, tuple(extra_names))


@functools.lru_cache(maxsize=1024)
def _is_local_host(host: str, extra_names: Tuple[str, ...]) -> bool:
    """Cached: every request on every port asks, with a handful of distinct values (a quarter of
    an API call's time went to parsing the same `127.0.0.1:port` again)."""
    if not is_well_formed_host(host):
        return False
    name, _ = split_host(host)
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    if name in {n.lower() for n in extra_names}:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
