"""The shell's side of `POST /_gae_emu/shell`: services that call a running emulator's.

`install(connection, service)` makes `gae_emu.apiproxy.current()` a `RemoteServices`, so gae-emu's
classic API (`gae_emu.ext.db`, `gae_emu.ext.deferred`, `gae_emu.api.taskqueue`) works at a Python
prompt as in a request of `service`: each service method call is one HTTP request to the admin port
(runtime/shellaccess.py has the other side and the security model). A datastore transaction begun
here is a `RemoteTransaction`, its handle standing for the emulator's.

Imports: the standard library, `gae_emu.apiproxy` and the protocol's names in `runtime/shellaccess.py`.
"""
from __future__ import annotations

import http.client
import io
import pickle
import threading
from typing import Any, Dict, Mapping, Optional
from urllib.parse import urlsplit

from gae_emu import apiproxy
from gae_emu.runtime.shellaccess import CALLABLE, KEY_HEADER, SERVICE_NAMES, SHELL_PATH, TXN_ID, shell_ticket_environ


class ShellConnectionError(RuntimeError):
    """The emulator the shell was started against does not answer (it stopped or restarted)."""


class RemoteTransaction:
    """A datastore transaction open in the emulator, known here by its handle."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.active = True  # until this shell commits or rolls it back

    def __repr__(self) -> str:
        return f"<RemoteTransaction {self.handle}{'' if self.active else ' (ended)'}>"


class ShellChannel:
    """One keep-alive HTTP connection to the admin port, used by one thread at a time."""

    def __init__(self, admin_url: str, key: str) -> None:
        parts = urlsplit(admin_url)
        host = parts.hostname or "127.0.0.1"
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.port = parts.port or 80
        self.key = key
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None

    def call(self, *request: Any) -> Any:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = _reference  # type: ignore[assignment]
        pickler.dump(request)
        body = self._post(out.getvalue())
        unpickler = pickle.Unpickler(io.BytesIO(body))
        unpickler.persistent_load = _load_reference  # type: ignore[assignment]
        kind, value = unpickler.load()
        if kind == "raise":
            raise value
        return value

    def _post(self, body: bytes) -> bytes:
        headers = {KEY_HEADER: self.key, "Content-Type": "application/octet-stream",
                   "Host": f"127.0.0.1:{self.port}"}
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed: once more, on a new one
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
                try:
                    self._conn.request("POST", SHELL_PATH, body, headers)
                    response = self._conn.getresponse()
                    data = response.read()
                    break
                except (ConnectionError, http.client.HTTPException, OSError) as exc:
                    self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise ShellConnectionError(
                            f"the emulator at http://{self.host}:{self.port} does not answer ({exc}); "
                            "start the shell again once `gae-emu dev` runs") from None
        if response.status != 200:
            raise ShellConnectionError(f"the emulator refused the shell's call: {response.status} "
                                       f"{data.decode('utf-8', 'replace').strip()} (restart the shell: the "
                                       "emulator it was started against has restarted)")
        return data


class RemoteService:
    """Stands for one of the emulator's services: attribute reads and method calls go over the channel."""

    def __init__(self, channel: ShellChannel, name: str) -> None:
        self._channel = channel
        self._name = name
        self._methods: Dict[str, bool] = {}

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        if self._methods.get(attr) is None:
            value = self._channel.call("get", self._name, attr)
            if value != CALLABLE:
                return value  # a plain attribute (max_task_size): read afresh each time
            self._methods[attr] = True
        return _RemoteMethod(self._channel, self._name, attr)

    def __repr__(self) -> str:
        return f"<the emulator's {self._name} service>"


class _RemoteMethod:
    def __init__(self, channel: ShellChannel, service: str, name: str) -> None:
        self.channel, self.service, self.name = channel, service, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.channel.call("call", self.service, self.name, args, kwargs)
        finally:
            if self.service == "datastore" and self.name in ("commit", "rollback"):
                for arg in args[:1]:
                    if isinstance(arg, RemoteTransaction):
                        arg.active = False


class RemoteServices(apiproxy.Services):
    """`apiproxy.Services` whose services are the running emulator's."""

    def __init__(self, channel: ShellChannel, hello: Mapping[str, Any]) -> None:
        super().__init__(app_id=hello["app_id"], storage=None,  # type: ignore[arg-type]
                         hostnames=dict(hello["hostnames"]), default_service=hello["default_service"])
        for name in SERVICE_NAMES:
            setattr(self, name, RemoteService(channel, name))


def connect(admin_url: str, key: str) -> RemoteServices:
    channel = ShellChannel(admin_url, key)
    return RemoteServices(channel, channel.call("hello"))


def install(connection: Mapping[str, Any], service: str) -> RemoteServices:
    """Point `gae_emu.apiproxy` at the emulator described by `connection` (its shell.json), with the
    calling context of a request to `service` (task targets, module names)."""
    services = connect(connection["admin_url"], connection["key"])
    apiproxy.install(services)
    apiproxy.request_environ.set(shell_ticket_environ(service, services.hostname(service)))
    return services


def _reference(obj: Any) -> Optional[tuple]:
    return (TXN_ID, obj.handle) if isinstance(obj, RemoteTransaction) else None


def _load_reference(ref: Any) -> RemoteTransaction:
    if isinstance(ref, tuple) and len(ref) == 2 and ref[0] == TXN_ID:
        return RemoteTransaction(int(ref[1]))
    raise pickle.UnpicklingError(f"unknown reference {ref!r}")
