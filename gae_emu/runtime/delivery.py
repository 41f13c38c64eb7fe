"""Delivering a push task as App Engine does: an in-process request through the target's router.

No socket: the request goes through the same `ServiceRouter` as outside requests, so app.yaml order
and `login:` rules apply, and `login: admin` passes because the request is marked internal (an
environ key no client can set). Headers follow B4 and production: the task's own headers minus the
reserved ones, then `X-AppEngine-QueueName`, `-TaskName`, `-TaskRetryCount`, `-TaskExecutionCount`,
`-TaskETA`, and on retries `-TaskPreviousResponse` and `-TaskRetryReason` (`App Error`, or
`Instance Unavailable` with previous response 0 after an attempt that got no answer); production's User-Agent;
REMOTE_ADDR 0.1.0.2; the Host of the target service.

Cron jobs take the same path (`cron`): a GET with `X-AppEngine-Cron: true` from 0.1.0.1.

Imports: the standard library, `gae_emu.runtime`, `gae_emu.config`, `gae_emu.services.taskqueue.models`.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

from gae_emu.runtime.consolebatch import ConsoleBatch
from gae_emu.runtime.environ import internal_environ
from gae_emu.runtime.frontend import service_from_host
from gae_emu.runtime.router import ServiceRouter
from gae_emu.config.cronyaml import CronJob
from gae_emu.services.taskqueue.models import APP_ENGINE_TASK_USER_AGENT, TaskRecord, default_url
from gae_emu.services.taskqueue.validate import target_service

log = logging.getLogger("gae_emu.taskqueue")
_console = ConsoleBatch(log)  # a line per task attempt, written in batches (consolebatch.py)

TASK_SOURCE_IP = "0.1.0.2"
CRON_SOURCE_IP = "0.1.0.1"  # B5: cron requests come from 0.1.0.1
TASK_USER_AGENT = APP_ENGINE_TASK_USER_AGENT
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

    def __init__(self, routers: Dict[str, ServiceRouter], default_service: str, hostnames: Dict[str, str],
                 dispatch: Optional[Callable[[dict, str, str], Optional[str]]] = None) -> None:
        self.routers = routers
        self.default_service = default_service
        self.hostnames = hostnames
        self.dispatch = dispatch  # dispatch.yaml: (environ, host, path) -> service or None

    def _dispatched(self, note: dict, host: str, url: str, service: str) -> str:
        """dispatch.yaml's service for this host and path, if a rule matches and it is served."""
        if self.dispatch is None:
            return service
        routed = self.dispatch(note, host, url.partition("?")[0])
        return routed if routed in self.routers else service

    def __call__(self, task: TaskRecord) -> int:
        host = _header(task.headers, "host")
        service = service_for_target(task.target, self.routers, self.default_service)
        url = task.url or default_url(task.queue)
        note: dict = {}
        named = service_from_host(host, self.routers) if host and not task.target else None
        if named is None and service == self.default_service:
            # A task for the default hostname goes where a request to it would: dispatch.yaml
            # included (the libraries name the default service as the target of untargeted tasks).
            service = self._dispatched(note, host or self.hostnames[self.default_service], url, service)
        else:
            service = named or service
        router = self.routers[service]
        host = self.hostnames.get(service, "localhost")
        environ = internal_environ(task.method, url, self.headers_for(task), task.payload, host, TASK_SOURCE_IP)
        environ.update(note)
        began = time.monotonic()
        response = router.handle(environ)
        status = response.status_code
        if log.isEnabledFor(logging.INFO):
            if 200 <= status < 300:
                _console.add(f"task {task.queue}/{task.name} \u2192 {service} {url} {status} "
                             f"{(time.monotonic() - began) * 1000:.0f} ms")
            else:
                # The queue prints this line when it knows the retry time or gives up (one line
                # per failed attempt); what was queued before it is written first, in order.
                _console.flush()
                task.attempt_line = (f"task {task.queue}/{task.name} \u2192 {service} {url} "
                                     f"{_failed(str(status))} {(time.monotonic() - began) * 1000:.0f} ms")
        return status

    def cron(self, job: CronJob) -> int:
        """Run one cron job: a GET to its url on its target service, as App Engine's cron service
        sends it (`X-AppEngine-Cron: true`, from 0.1.0.1, passing `login: admin`)."""
        service = service_for_target(job.target, self.routers, self.default_service)
        note: dict = {}
        # dispatch.yaml re-routes cron jobs too (the cron.yaml reference), target or not.
        service = self._dispatched(note, self.hostnames.get(service, "localhost"), job.url, service)
        host = self.hostnames.get(service, "localhost")
        headers = [("X-AppEngine-Cron", "true"), ("User-Agent", TASK_USER_AGENT)]
        environ = internal_environ("GET", job.url, headers, b"", host, CRON_SOURCE_IP)
        environ.update(note)
        return self.routers[service].handle(environ).status_code

    @staticmethod
    def headers_for(task: TaskRecord) -> List[Tuple[str, str]]:
        headers = []
        for key, value in task.headers:
            # WSGI maps `-` and `_` to the same environ key: `X_AppEngine_QueueName` is reserved too.
            lower = key.lower().replace("_", "-")
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
        # Production (recorded): a retry after an answer gives that status and "App Error"; after
        # no answer (the attempt passed its deadline, no instance) it gives 0 and "Instance Unavailable".
        if task.retry_count and task.last_response is not None:
            headers.append(("X-AppEngine-TaskPreviousResponse", str(task.last_response)))
            headers.append(("X-AppEngine-TaskRetryReason", "App Error" if task.last_response else "Instance Unavailable"))
        if task.payload and _header(task.headers, "content-type") is None:
            headers.append(("Content-Type", "application/octet-stream"))
        return headers


def _failed(text: str) -> str:
    """A failed attempt's status, in red when the console is a terminal."""
    return f"\033[31m{text}\033[0m" if _COLOUR else text


_COLOUR = sys.stderr.isatty() and os.environ.get("NO_COLOR") is None and os.environ.get("TERM") != "dumb"


def _header(headers, name: str) -> Optional[str]:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
