"""`modules` over the wire: GetHostname, GetModules, GetVersions, GetDefaultVersion,
GetNumInstances, and the state-changing calls answered as dev_appserver answers them for a
single-instance service.

A hostname is the service's own `host:port` (each service listens on its own port, as with
dev_appserver), so a task the client addressed with `_target` carries that Host and the taskqueue
handler routes it to the service.

Not supported yet: versions other than each service's one version (INVALID_VERSION), instance
counts (always 1; SetNumInstances, StartModule and StopModule succeed and change nothing).

Imports: the standard library, this package.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler

INVALID_MODULE, INVALID_VERSION = 1, 2  # ModulesServiceError.ErrorCode


class Modules(ServiceHandler):
    name = "modules"

    def __init__(self, hostnames: Mapping[str, str], versions: Mapping[str, str],
                 default_service: str = "default") -> None:
        self.hostnames = hostnames
        self.versions = versions
        self.default_service = default_service

    def methods(self) -> Dict[str, Method]:
        m = pb().modules
        return {
            "GetHostname": (m.GetHostnameRequest, self.get_hostname),
            "GetModules": (m.GetModulesRequest, self.get_modules),
            "GetVersions": (m.GetVersionsRequest, self.get_versions),
            "GetDefaultVersion": (m.GetDefaultVersionRequest, self.get_default_version),
            "GetNumInstances": (m.GetNumInstancesRequest, self.get_num_instances),
            "SetNumInstances": (m.SetNumInstancesRequest, lambda r, c: m.SetNumInstancesResponse()),
            "StartModule": (m.StartModuleRequest, lambda r, c: m.StartModuleResponse()),
            "StopModule": (m.StopModuleRequest, lambda r, c: m.StopModuleResponse()),
        }

    def _module(self, request: Any, call: Call) -> str:
        name = request.module or call.environ.get("CURRENT_MODULE_ID") or self.default_service
        if name not in self.hostnames:
            raise ApplicationError(INVALID_MODULE, f"unknown module {name!r}; known: {', '.join(sorted(self.hostnames))}")
        return name

    def _version(self, module: str) -> str:
        return self.versions.get(module, "1")

    def get_hostname(self, request: Any, call: Call) -> Any:
        module = self._module(request, call)
        if request.version and request.version != self._version(module):
            raise ApplicationError(INVALID_VERSION, f"module {module!r} has no version {request.version!r}")
        response = pb().modules.GetHostnameResponse()
        response.hostname = self.hostnames[module]
        return response

    def get_modules(self, request: Any, call: Call) -> Any:
        response = pb().modules.GetModulesResponse()
        response.module.extend(self.hostnames)
        return response

    def get_versions(self, request: Any, call: Call) -> Any:
        response = pb().modules.GetVersionsResponse()
        response.version.append(self._version(self._module(request, call)))
        return response

    def get_default_version(self, request: Any, call: Call) -> Any:
        response = pb().modules.GetDefaultVersionResponse()
        response.version = self._version(self._module(request, call))
        return response

    def get_num_instances(self, request: Any, call: Call) -> Any:
        self._module(request, call)
        response = pb().modules.GetNumInstancesResponse()
        response.instances = 1
        return response
