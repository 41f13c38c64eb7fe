"""Cloud Tasks resource names: `projects/{project}/locations/{location}/queues/{queue}` and
`.../tasks/{task}`, checked against the emulator's one project and location with production's
messages.

Imports: the standard library, grpc, this package's `errors`, `gae_emu.services.taskqueue.models`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import grpc

from gae_emu.services.taskqueue.models import QUEUE_NAME_RE, TASK_NAME_RE

from .errors import CloudTasksError, invalid

QUEUE_FORMAT = 'Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".'
TASK_FORMAT = ('Task name must be formatted: '
               '"projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>".')
PARENT_FORMAT = 'Parent must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>".'
_PARENT_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
_QUEUE_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/queues/([^/]*)$")
_TASK_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/queues/([^/]*)/tasks/([^/]*)$")


@dataclass(frozen=True)
class Names:
    """The emulator's project (the app id without `dev~`) and location."""

    project: str
    location: str

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def queue(self, queue: str) -> str:
        return f"{self.parent}/queues/{queue}"

    def task(self, queue: str, task: str) -> str:
        return f"{self.queue(queue)}/tasks/{task}"

    def _check(self, project: str, location: str) -> None:
        if project != self.project:
            raise CloudTasksError(grpc.StatusCode.PERMISSION_DENIED, f"Permission denied on resource project {project}.")
        if location != self.location:
            raise invalid(f"Location {location!r} is not a valid location of this emulator; "
                          f"it serves {self.location!r} (--tasks-location).")

    def parse_parent(self, name: str) -> None:
        match = _PARENT_RE.match(name or "")
        if match is None:
            raise invalid(PARENT_FORMAT)
        self._check(match.group(1), match.group(2))

    def parse_queue(self, name: str) -> str:
        """The queue id of a queue name."""
        match = _QUEUE_RE.match(name or "")
        if match is None or not QUEUE_NAME_RE.match(match.group(3)):
            raise invalid(QUEUE_FORMAT)
        self._check(match.group(1), match.group(2))
        return match.group(3)

    def parse_task(self, name: str) -> tuple:
        """(queue id, task id) of a task name."""
        match = _TASK_RE.match(name or "")
        if match is None or not QUEUE_NAME_RE.match(match.group(3)):
            raise invalid(TASK_FORMAT)
        self._check(match.group(1), match.group(2))
        if not TASK_NAME_RE.match(match.group(4)):
            raise invalid(f'Task ID "{match.group(4)}" can contain only letters ([A-Za-z]), numbers ([0-9]), '
                          "hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.")
        return match.group(3), match.group(4)
