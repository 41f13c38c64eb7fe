"""The admin console's view of instances: each python3 service's process (issue 11), shared by the
Instances page and the JSON API.

Imports: the standard library, werkzeug, `gae_emu.apiproxy`.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Dict, List

from werkzeug.exceptions import NotFound

from gae_emu import apiproxy


def _instances() -> Dict[str, Any]:
    emulator = apiproxy.current().settings.get("emulator")
    return dict(getattr(emulator, "instances", {}) or {})


def instance_dicts() -> List[Dict[str, Any]]:
    """Service, pid, port, state, started, requests served, restarts, last exit code and output."""
    return [asdict(instance.info()) for instance in _instances().values()]


def restart(service: str) -> Dict[str, Any]:
    instance = _instances().get(service)
    if instance is None:
        raise NotFound(f"No instance of service {service!r}: only python3 services run in instances.")
    instance.restart()
    return {"restarted": service}
