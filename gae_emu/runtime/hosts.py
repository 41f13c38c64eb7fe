"""Which Host headers count as local (dev_appserver's host checking, against DNS rebinding).

Imports: the standard library only.
"""
from __future__ import annotations

import ipaddress
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


def is_local_host(host: str, extra_names: Iterable[str] = ()) -> bool:
    """True for localhost, *.localhost, loopback addresses, and names the user allowed explicitly."""
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
