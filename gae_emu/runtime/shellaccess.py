"""`ShellAccess`: how `gae-emu shell` reaches a running emulator, as the SDK's remote_api shell did.

A running `gae-emu dev` writes `shell.json` into its storage folder (mode 0600, in a 0700 folder;
removed when it stops). The file says where its servers are and holds two secrets:

- one API ticket per service, accepted by the API server for as long as the emulator runs, so
  Google's library in the shell (ndb, taskqueue, memcache) calls `/rpc_http` as an instance does;
- a key for `POST /_gae_emu/shell` on the admin port, where gae-emu's own classic API
  (`gae_emu.ext`, `gae_emu.api`) calls the services: a pickled `(service, name, args, kwargs)` in,
  a pickled answer out. It unpickles, so it answers only a request carrying the key (compared in
  constant time, before the body is read), and only public names of the five services.

A datastore transaction stays here: it crosses the wire as its handle (pickle's persistent ids).

`gae-emu shell` itself (`shell_command`) reads the file back and starts the service's interpreter
on `gae_emu/shellboot.py` with the environment an instance of that service gets.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.shellboot` (its variables), `gae_emu.config.models`,
`gae_emu.services.datastore.transactions`, `gae_emu.runtime.entrypoint`/`environ`.
"""
from __future__ import annotations

import hmac
import io
import json
import logging
import os
import pickle
import secrets
from pathlib import Path
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from gae_emu import shellboot
from gae_emu.apiproxy import Services
from gae_emu.config.models import AppConfig
from gae_emu.runtime.entrypoint import bin_dir, interpreter_for
from gae_emu.runtime.environ import ServiceIdentity, instance_process_env
from gae_emu.services.datastore.transactions import Transaction

log = logging.getLogger("gae_emu.shell")

SHELL_FILE = "shell.json"
SHELL_PATH = "/_gae_emu/shell"  # on the admin port
KEY_HEADER = "X-Gae-Emu-Shell-Key"
_KEY_ENVIRON = "HTTP_" + KEY_HEADER.upper().replace("-", "_")
SERVICE_NAMES = ("datastore", "taskqueue", "memcache", "mail", "blobstore")
MAX_CALL_BYTES = 64 * 1024 * 1024
CALLABLE = "<callable>"  # the answer to `get` of a method: the shell calls it instead
TXN_ID = "txn"  # persistent id tag of a datastore transaction


def shell_ticket_environ(service: str, hostname: str) -> Dict[str, Any]:
    """A shell's calls as a request to the service's host: what the API server's handlers see of
    one (its ticket's environ), and gae-emu's classic API at the prompt (its request environ)."""
    return {"HTTP_HOST": hostname, "SERVER_NAME": hostname.partition(":")[0], "wsgi.url_scheme": "http",
            "CURRENT_MODULE_ID": service, "REMOTE_ADDR": "127.0.0.1"}


class ShellAccess:
    """The shell's secrets of one emulator run, its connection file, and its call endpoint."""

    def __init__(self, services: Services, storage_path: Path) -> None:
        self.services = services
        self.path = Path(storage_path) / SHELL_FILE
        self.key = secrets.token_urlsafe(32)
        self.tickets: Dict[str, str] = {}  # service -> its shell ticket

    def ticket_for(self, service: str) -> str:
        return self.tickets.setdefault(service, "shell-" + secrets.token_hex(20))

    def write(self, facts: Mapping[str, Any]) -> None:
        """Write the connection file (`facts` plus the secrets), readable by this user only."""
        body = dict(facts, version=1, pid=os.getpid(), key=self.key, tickets=dict(self.tickets))
        tmp = self.path.with_name(f".{SHELL_FILE}.{os.getpid()}")
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        """Remove the file if it is still this process's (a later emulator may have replaced it)."""
        try:
            with open(self.path, encoding="utf-8") as src:
                mine = json.load(src).get("key") == self.key
            if mine:
                os.remove(self.path)
        except (OSError, ValueError):
            pass

    # -- POST /_gae_emu/shell -------------------------------------------------------------------

    def app(self, environ: dict, start_response: Callable) -> list:
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", b"POST only\n", "text/plain")
        given = environ.get(_KEY_ENVIRON, "")
        if not given or not hmac.compare_digest(given.encode("utf-8", "replace"), self.key.encode()):
            return _answer(start_response, "403 Forbidden", b"the shell key is missing or wrong\n", "text/plain")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_CALL_BYTES:
            return _answer(start_response, "400 Bad Request", b"a call needs a body of 1 byte to 64 MiB\n",
                           "text/plain")
        body = environ["wsgi.input"].read(length)
        try:
            outcome = ("ok", self._run(body))
        except Exception as exc:  # the shell re-raises it where the call was made
            outcome = ("raise", exc)
        return _answer(start_response, "200 OK", self._dumps(outcome), "application/octet-stream")

    def _run(self, body: bytes) -> Any:
        unpickler = pickle.Unpickler(io.BytesIO(body))
        unpickler.persistent_load = self._load_reference  # type: ignore[assignment]
        op, *rest = unpickler.load()
        if op == "hello":
            return {"app_id": self.services.app_id, "hostnames": dict(self.services.hostnames),
                    "default_service": self.services.default_service}
        service_name, name = rest[0], rest[1]
        if service_name not in SERVICE_NAMES or not isinstance(name, str) or name.startswith("_"):
            raise AttributeError(f"the shell reaches the public names of {', '.join(SERVICE_NAMES)} only")
        target = getattr(self.services, service_name)
        if target is None:
            raise AttributeError(f"this emulator has no {service_name} service")
        value = getattr(target, name)
        if op == "get":
            return CALLABLE if callable(value) else value
        if op == "call":
            args, kwargs = rest[2], rest[3]
            return value(*args, **kwargs)
        raise ValueError(f"unknown shell operation {op!r}")

    def _load_reference(self, ref: Any) -> Any:
        if isinstance(ref, tuple) and len(ref) == 2 and ref[0] == TXN_ID:
            return self.services.datastore.transaction(int(ref[1]))
        raise pickle.UnpicklingError(f"unknown reference {ref!r}")

    def _dumps(self, outcome: Any) -> bytes:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = _reference  # type: ignore[assignment]
        try:
            pickler.dump(outcome)
        except Exception as exc:  # an answer (or an error) that does not pickle
            out = io.BytesIO()
            what = outcome[1]
            text = f"{type(what).__name__}: {what}" if outcome[0] == "raise" else repr(what)
            pickle.dump(("raise", RuntimeError(f"the emulator's answer cannot be sent to the shell ({exc}): {text}")),
                        out)
        return out.getvalue()


def _reference(obj: Any) -> Optional[tuple]:
    return (TXN_ID, obj.handle) if isinstance(obj, Transaction) else None


def _answer(start_response: Callable, status: str, body: bytes, content_type: str) -> list:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


# -- the `gae-emu shell` command's side ------------------------------------------------------------

BOOT_SCRIPT = Path(shellboot.__file__).resolve()


class NoEmulatorError(Exception):
    """No running emulator's shell.json in the storage folder (one line for the user)."""


def read_connection(storage_path: Path) -> Dict[str, Any]:
    """The connection file of the emulator running on `storage_path`."""
    path = Path(storage_path) / SHELL_FILE
    try:
        with open(path, encoding="utf-8") as src:
            connection = json.load(src)
    except FileNotFoundError:
        raise NoEmulatorError(f"no gae-emu dev is running on the storage folder {storage_path} (it has no "
                              f"{SHELL_FILE}): start `gae-emu dev` with the same app.yaml first, or name the "
                              "folder it uses with --storage-path") from None
    except (OSError, ValueError) as exc:
        raise NoEmulatorError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(connection, dict) or connection.get("version") != 1 or not _alive(connection.get("pid")):
        raise NoEmulatorError(f"the gae-emu dev that wrote {path} is no longer running: start it again")
    connection["_path"] = str(path)
    return connection


def shell_command(connection: Mapping[str, Any], app: AppConfig, python: Optional[str] = None
                  ) -> Tuple[List[str], Dict[str, str]]:
    """argv and environment of the prompt for `app`'s service: its instance's interpreter (a python3
    service's; gae-emu's own for a classic one) and its instance's environment."""
    hostnames = connection["hostnames"]
    default = connection["default_service"]
    identity = ServiceIdentity(app=app, hostname=hostnames[app.service], default_hostname=hostnames[default])
    interpreter = interpreter_for(app.root, python or connection.get("python")) if app.is_python3 else sys.executable
    api = tuple(connection["api"]) if connection.get("api") else None
    env = instance_process_env(identity, bin_dir(interpreter), {**connection["exports"], **connection["env_vars"]},
                               api, connection.get("datastore"))  # type: ignore[arg-type]
    env.pop("PORT", None)
    env[shellboot.FILE_VARIABLE] = str(Path(connection["_path"]))
    env[shellboot.SERVICE_VARIABLE] = app.service
    env[shellboot.ROOT_VARIABLE] = str(app.root)
    return [interpreter, str(BOOT_SCRIPT)], env


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
