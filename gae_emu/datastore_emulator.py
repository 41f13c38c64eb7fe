"""`StandaloneDatastore`: only the Cloud Datastore v1 API (gRPC and REST on one port) over a
storage folder, for `gae-emu datastore` — a drop-in for `gcloud beta emulators datastore start` for
people who do not use App Engine at all.

Entities persist in the folder's database across restarts (unless cleared). While it runs, the
folder's `env.yaml` holds the variables that point clients at it (as gcloud's data dir does), so
`gae-emu datastore env-init --storage-path DIR` can print them; a clean stop removes it.

It is a composition root like `emulator.py` (it wires `cloud/` to `services/`).

Imports: the standard library, `gae_emu.*` except `cli` and `handlers`.
"""
from __future__ import annotations

import getpass
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from gae_emu import apiproxy
from gae_emu.cloud.datastore.values import app_for
from gae_emu.emulator import ADMIN_APP
from gae_emu.runtime.environ import INTERNAL_KEY, cloud_datastore_env
from gae_emu.runtime.hosts import local_hosts_only
from gae_emu.runtime.loader import ScriptLoader
from gae_emu.runtime.server import ServerSet, listen
from gae_emu.services.datastore import DatastoreService
from gae_emu.storage import Storage

log = logging.getLogger("gae_emu")
ENV_FILE = "env.yaml"
DEFAULT_PORT = 8081  # gcloud's Datastore emulator's


class NotRunningError(Exception):
    """No `gae-emu datastore` has written its env.yaml in that folder."""


def default_storage_path() -> Path:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / re.sub(r"[^A-Za-z0-9_.-]", "_", f"gae-emu.datastore.{user}")


def read_env(storage_path: Path) -> Dict[str, str]:
    """The variables of the server running on `storage_path` (NotRunningError if none is)."""
    path = Path(storage_path) / ENV_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NotRunningError(f"no gae-emu datastore is running on {storage_path} (no {ENV_FILE} there)") from None
    env = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            env[name.strip()] = value.strip()
    return env


class StandaloneDatastore:
    def __init__(self, storage_path: Path, port: int = DEFAULT_PORT, project: str = "gae-emu",
                 clear: bool = False, admin_port: Optional[int] = None) -> None:
        from gae_emu.cloud.datastore.server import DatastoreServer

        self.storage_path = Path(storage_path)
        self.storage = Storage.in_directory(self.storage_path, clear=clear)  # StorageInUseError first
        self.admin: Optional[ServerSet] = None
        try:
            self.service = DatastoreService(self.storage)
            self.server = DatastoreServer(self.service, listen("127.0.0.1", port, "the Cloud Datastore API"))
            if admin_port is not None:
                self.admin = ServerSet()
                self.admin.bind("admin", "127.0.0.1", admin_port, local_hosts_only(self._admin_app))
        except BaseException:
            self.storage.close()
            raise
        self.services = apiproxy.Services(app_id=app_for(project), storage=self.storage, datastore=self.service)
        self.env = cloud_datastore_env(project, self.server.address)
        self._admin_wsgi: Optional[Callable] = None

    @property
    def admin_url(self) -> Optional[str]:
        return self.admin.listeners[0].url if self.admin is not None else None

    def start(self) -> None:
        apiproxy.install(self.services)
        self.server.start()
        if self.admin is not None:
            self.admin.start()
        text = "".join(f"{name}: {value}\n" for name, value in self.env.items())
        (self.storage_path / ENV_FILE).write_text(text, encoding="utf-8")

    def stop(self) -> None:
        try:
            (self.storage_path / ENV_FILE).unlink()
        except FileNotFoundError:
            pass
        if self.admin is not None:
            self.admin.stop()
        self.server.stop()
        apiproxy.uninstall(self.services)
        self.storage.close()

    def _admin_app(self, environ: dict, start_response: Callable) -> Any:
        """The admin console's datastore viewer and editor over this datastore (no login: local only).
        Its task queue pages have no queues here."""
        environ[INTERNAL_KEY] = True
        if self._admin_wsgi is None:
            self._admin_wsgi = ScriptLoader(self.storage_path).load(ADMIN_APP)
        with apiproxy.serving(environ):
            return self._admin_wsgi(environ, start_response)

