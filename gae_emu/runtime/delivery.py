"""Delivering a push task as App Engine does: an in-process request through the target's router.

No socket: the request goes through the same `ServiceRouter` as outside requests, so app.yaml order
and `login:` rules apply, and `login: admin` passes because the request is marked internal (an
environ key no client can set). Headers follow B4 and production: the task's own headers minus the
reserved ones, then `X-AppEngine-QueueName`, `-TaskName`, `-TaskRetryCount`, `-TaskExecutionCount`,
`-TaskETA`, and on retries `-TaskPreviousResponse` and `-TaskRetryReason`; production's User-Agent;
REMOTE_ADDR 0.1.0.2; the Host of the target service.

Imports: the standard library, `gae_emu.runtime`, `gae_emu.services.taskqueue.models`.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

from gae_emu.runtime.environ import internal_environ
from gae_emu.runtime.frontend import service_from_host
from gae_emu.runtime.router import ServiceRouter
from gae_emu.services.taskqueue.models import TaskRecord, default_url
from gae_emu.services.taskqueue.validate import target_service

log = logging.getLogger("gae_emu.taskqueue")

TASK_SOURCE_IP = "0.1.0.2"
TASK_USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)"
# Headers the queue sets itself; a task's own copies are dropped (B4 BUILT_IN_HEADERS, plus Host).
RESERVED_HEADERS = {
    "x-appengine-queuename",
    "x-appengine-taskname",
    "x-appengine-taskexecutioncount",
    "x-appengine-taskpreviousresponse",
    "x-appengine-taskretrycount",
    "x-appengine-tasketa",
    "x-appengine-taskretryreason",
    "x-appengine-development-payload",
    "content-length",
    "host",
    "user-agent",
}
# App Engine headers the client library itself puts on tasks and that reach handlers (B3).
NAMESPACE_HEADERS = {"x-appengine-current-namespace", "x-appengine-default-namespace"}


def service_for_target(target: Optional[str], services: Dict[str, ServiceRouter], default: str) -> str:
    """The service a task goes to: its target's, if that service exists, else `default`."""
    name = target_service(target) if target else default
    return name if name in services else default


class TaskDelivery:
    """The dispatcher's `execute`: runs one task, returns the HTTP status (0 = no response)."""

    def __init__(self, routers: Dict[str, ServiceRouter], default_service: str, hostnames: Dict[str, str]) -> None:
        self.routers = routers
        self.default_service = default_service
        self.hostnames = hostnames

    def __call__(self, task: TaskRecord) -> int:
        host = _header(task.headers, "host")
        service = service_for_target(task.target, self.routers, self.default_service)
        if not task.target and host:
            service = service_from_host(host, self.routers) or service
        router = self.routers[service]
        url = task.url or default_url(task.queue)
        host = self.hostnames.get(service, "localhost")
        environ = internal_environ(task.method, url, self.headers_for(task), task.payload, host, TASK_SOURCE_IP)
        response = router.handle(environ)
        status = response.status_code
        if log.isEnabledFor(logging.DEBUG):
            log.debug("task %s/%s %s %s -> %s", task.queue, task.name, task.method, url, status)
        return status

    @staticmethod
    def headers_for(task: TaskRecord) -> List[Tuple[str, str]]:
        headers = []
        for key, value in task.headers:
            lower = key.lower()
            if lower in RESERVED_HEADERS:
                continue
            if lower.startswith("x-appengine-") and lower not in NAMESPACE_HEADERS:
                continue
            headers.append((key, value))
        headers += [
            ("X-AppEngine-QueueName", task.queue),
            ("X-AppEngine-TaskName", task.name),
            ("X-AppEngine-TaskRetryCount", str(task.retry_count)),
            ("X-AppEngine-TaskExecutionCount", str(task.execution_count)),
            ("X-AppEngine-TaskETA", repr(float(task.eta))),
            ("User-Agent", TASK_USER_AGENT),
        ]
        # 0 records an attempt that got no HTTP answer (timeout, dispatch error): B4 sends the
        # previous response only when there was one.
        if task.last_response:
            headers.append(("X-AppEngine-TaskPreviousResponse", str(task.last_response)))
            headers.append(("X-AppEngine-TaskRetryReason", "App Error"))
        if task.payload and _header(task.headers, "content-type") is None:
            headers.append(("Content-Type", "application/octet-stream"))
        return headers


def _header(headers, name: str) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
