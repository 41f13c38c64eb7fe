"""`StandaloneTasks`: only the Cloud Tasks v2 API over a storage folder, for `gae-emu tasks` — for
apps that are not on App Engine (HTTP targets), and App Engine targets sent over HTTP to
`--app-url` (another server playing the App Engine app).

The queues are those of `--queue-yaml` (reloaded when it changes) plus those created through the
API; queues, tasks and tombstones persist in the folder's database. One dispatcher runs them with
the task queue service's retry and rate rules, as under `gae-emu dev`.

It is a composition root like `emulator.py` (it wires `cloud/` to `services/` and `runtime/`).

Imports: the standard library, `gae_emu.*` except `cli` and `handlers`.
"""
from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path
from typing import Dict, Optional

from gae_emu.cloud.grpcserver import GrpcPortInUseError
from gae_emu.cloud.tasks import DEFAULT_LOCATION, CloudTasksServer
from gae_emu.cloud.tasks.httptarget import send
from gae_emu.config.models import QueueConfig
from gae_emu.config.queueyaml import QueueConfigWatcher
from gae_emu.emulator import default_storage_path as app_storage_path
from gae_emu.runtime.delivery import TaskDelivery
from gae_emu.runtime.hosts import local_hosts_only
from gae_emu.runtime.server import PortInUseError, ServerSet
from gae_emu.services.taskqueue import Dispatcher, TaskQueueService
from gae_emu.services.taskqueue.models import TaskRecord, default_url
from gae_emu.storage import Storage

log = logging.getLogger("gae_emu")
DEFAULT_PORT = 8123  # the port other Cloud Tasks emulators use


def default_storage_path() -> Path:
    """A folder under the system temp dir per user and current folder, named as `gae-emu dev`
    names an app's (`gae-emu.tasks.<user>.<hash>`)."""
    return app_storage_path("tasks", Path.cwd())


class AppUrlDelivery:
    """App Engine targets without App Engine: POSTed (or their method) to `app_url` + relative URI
    with the App Engine task headers a handler gets in production."""

    def __init__(self, app_url: Optional[str], deadline: float) -> None:
        self.app_url = app_url.rstrip("/") if app_url else None
        self.deadline = deadline

    def __call__(self, task: TaskRecord) -> int:
        if self.app_url is None:
            log.warning("task %s of queue %s targets App Engine, but no --app-url was given", task.name, task.queue)
            return 0
        headers = TaskDelivery.headers_for(task)
        headers.append(("X-AppEngine-Fake-Is-Admin", "1"))  # a gae-emu or dev_appserver target passes login: admin
        url = self.app_url + (task.url or default_url(task.queue))
        return send(task, task.method, url, headers, min(task.dispatch_deadline or self.deadline, self.deadline))


class StandaloneTasks:
    def __init__(self, storage_path: Path, *, port: int = DEFAULT_PORT, project: str = "gae-emu",
                 location: str = DEFAULT_LOCATION, queue_yaml: Optional[Path] = None, app_url: Optional[str] = None,
                 host: str = "127.0.0.1", deadline: float = 600.0) -> None:
        self.storage = Storage.in_directory(storage_path)
        if queue_yaml is not None:
            queues = QueueConfigWatcher(Path(queue_yaml).resolve().parent).current
        else:
            queues = QueueConfig
        self.taskqueue = TaskQueueService(self.storage, queues)
        try:
            self.server = CloudTasksServer(self.taskqueue, project, AppUrlDelivery(app_url, deadline), location=location,
                                           host=host, port=port, deadline=deadline)
        except GrpcPortInUseError as exc:
            self.storage.close()
            raise PortInUseError(f"{exc}; choose another with --port") from None
        self.keys = ServerSet()
        self.keys.bind("cloud-tasks-keys", host, 0, local_hosts_only(self.server.keys_app, ()))
        self.dispatcher = Dispatcher(self.taskqueue, self.server.execute, max_workers=16, deadline=deadline,
                                     stall_after=1.0)

    @property
    def env(self) -> Dict[str, str]:
        keys = self.keys.listeners[0].url.rstrip("/")
        return {"CLOUD_TASKS_EMULATOR_HOST": self.server.address, "CLOUD_TASKS_EMULATOR_JWKS_URL": keys + "/jwks",
                "CLOUD_TASKS_EMULATOR_CERTS_URL": keys + "/certs"}

    def start(self) -> None:
        self.server.start()
        self.keys.start()
        self.dispatcher.start()

    def stop(self) -> None:
        self.dispatcher.stop()
        self.server.stop()
        self.keys.stop()
        self.storage.close()


def check_app_url(app_url: str) -> str:
    parts = urllib.parse.urlsplit(app_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--app-url must be an http(s) URL such as http://localhost:8080; got {app_url!r}")
    return app_url
