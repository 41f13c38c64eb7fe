"""`modules`, named as `google.appengine.api.modules` names it: which service serves this request
and the hostnames of the others.

Imports: the standard library, `gae_emu.apiproxy`.
"""
from __future__ import annotations

import os
from typing import List, Optional

from gae_emu import apiproxy


class Error(Exception):
    """Base class for modules errors."""


class InvalidModuleError(Error):
    """The named module (service) does not exist."""


def _environ():
    return apiproxy.request_environ.get() or os.environ


def get_current_module_name() -> str:
    return _environ().get("CURRENT_MODULE_ID", "default")


def get_current_version_name() -> str:
    return _environ().get("CURRENT_VERSION_ID", "1.0").split(".")[0]


def get_current_instance_id() -> Optional[str]:
    return _environ().get("INSTANCE_ID")


def get_modules() -> List[str]:
    return list(apiproxy.current().hostnames)


def get_hostname(module: Optional[str] = None, version: Optional[str] = None, instance: Optional[str] = None) -> str:
    """host:port of a service (the default service when none is named), as dev_appserver answers."""
    hostnames = apiproxy.current().hostnames
    name = module or get_current_module_name()
    if name not in hostnames:
        raise InvalidModuleError(f"unknown module {name!r}; known: {', '.join(sorted(hostnames))}")
    return hostnames[name]
