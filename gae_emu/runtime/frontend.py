"""The front door of each port: host checking, then the service the request is for (B11).

A Host that is not a local name gets 400, as dev_appserver's host checking answers, so a web page
cannot reach the emulator through DNS rebinding. A Host with a prefix before the server's own name
(`worker.localhost:8080`, `v1.worker.localhost:8080`) picks the service by the prefix's last label;
otherwise, on the default service's port, dispatch.yaml may send it to another service
(`runtime/dispatch.py`); else the port's own service serves the request.

Imports: the standard library, `gae_emu.runtime`.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, Iterable, Optional

from gae_emu.runtime.hosts import local_hosts_only, split_host
from gae_emu.runtime.router import ServiceRouter

log = logging.getLogger(__name__)


def service_from_host(host: str, services: Iterable[str]) -> Optional[str]:
    """The service a Host header names with a prefix label, or None."""
    name, _ = split_host(host)
    labels = name.split(".")
    known = set(services)
    # Everything before the base name (localhost, or an address) is the prefix; its last label wins.
    for base_len in (1, 4):  # "localhost" is one label; "127.0.0.1" four
        prefix = labels[:-base_len]
        if prefix and prefix[-1] in known:
            if len(prefix) > 1:
                log.warning("Host %s names a version or instance; only one version is served", host)
            return prefix[-1]
    return None


class Frontend:
    """Maps (Host, port) to a ServiceRouter; one instance serves every port of the emulator."""

    def __init__(self, routers: Dict[str, ServiceRouter], default_service: str, allowed_hosts: Iterable[str] = (),
                 dispatch: Optional[Callable[[dict, str, str], Optional[str]]] = None) -> None:
        self.routers = routers
        self.default_service = default_service
        self.allowed_hosts = tuple(allowed_hosts)
        self.dispatch = dispatch  # dispatch.yaml: (environ, host, path) -> service or None

    def router_for(self, host: str, port_service: Optional[str] = None, environ: Optional[dict] = None) -> ServiceRouter:
        name = service_from_host(host, self.routers)
        if name is None and self.dispatch is not None and environ is not None \
                and (port_service or self.default_service) == self.default_service:
            name = self.dispatch(environ, host, environ.get("PATH_INFO", "/"))  # the default hostname only
        name = name or port_service or self.default_service
        return self.routers.get(name) or self.routers[self.default_service]

    def app_for_port(self, port_service: str) -> Callable:
        """The WSGI app a server listening for `port_service` runs."""

        def app(environ: dict, start_response: Callable):
            return self.router_for(environ.get("HTTP_HOST", ""), port_service, environ)(environ, start_response)

        return local_hosts_only(app, self.allowed_hosts)
