"""`HttpTargetDelivery`: sends a Cloud Tasks HTTP-target task to its URL (a service of the
emulator or any other server) and returns the HTTP status, as the dispatcher's `execute` does for
App Engine targets.

The request is the task's method, URL, body and headers (its stored `User-Agent: Google-Cloud-Tasks`
included), plus production's `X-CloudTasks-QueueName`, `-TaskName`, `-TaskRetryCount`,
`-TaskExecutionCount`, `-TaskETA`, and on retries `-TaskPreviousResponse` (504 after an attempt
that got no answer) and an empty `-TaskRetryReason`; with an OIDC or OAuth service account, an
`Authorization: Bearer` token (`oidc.TokenIssuer`). Sent with http.client: redirects are not
followed (production counts them as failures), no proxy is used and no Content-Type is added.

Imports: the standard library, `gae_emu.services.taskqueue.models`, this package's `oidc`.
"""
from __future__ import annotations

import http.client
import logging
import socket
import urllib.parse
from typing import List, Optional, Tuple

from gae_emu.services.taskqueue.models import TaskRecord

from .oidc import TokenIssuer

log = logging.getLogger("gae_emu.cloud.tasks")

NO_ANSWER_STATUS = 504  # what production reports as the previous response after a deadline
DEFAULT_DEADLINE = 600.0


class HttpTargetDelivery:
    def __init__(self, issuer: TokenIssuer, deadline: float = DEFAULT_DEADLINE) -> None:
        self.issuer = issuer
        self.deadline = deadline

    def headers_for(self, task: TaskRecord) -> List[Tuple[str, str]]:
        headers = [(k, v) for k, v in task.headers if not k.lower().startswith("x-cloudtasks-")]
        headers += [
            ("X-CloudTasks-QueueName", task.queue),
            ("X-CloudTasks-TaskName", task.name),
            ("X-CloudTasks-TaskRetryCount", str(task.retry_count)),
            ("X-CloudTasks-TaskExecutionCount", str(task.execution_count)),
            ("X-CloudTasks-TaskETA", f"{task.eta:.6f}"),
        ]
        if task.retry_count and task.last_response is not None:
            headers.append(("X-CloudTasks-TaskPreviousResponse", str(task.last_response or NO_ANSWER_STATUS)))
            headers.append(("X-CloudTasks-TaskRetryReason", ""))
        token = self._token(task)
        if token is not None:
            headers.append(("Authorization", f"Bearer {token}"))
        return headers

    def _token(self, task: TaskRecord) -> Optional[str]:
        http = task.http
        if http is None:
            return None
        if http.oidc_email:
            return self.issuer.id_token(http.oidc_email, http.oidc_audience or task.url)
        if http.oauth_email:
            return self.issuer.access_token(http.oauth_email, http.oauth_scope)
        return None

    def __call__(self, task: TaskRecord) -> int:
        timeout = min(task.dispatch_deadline or self.deadline, self.deadline)
        return send(task, task.method, task.url, self.headers_for(task), timeout)


def send(task: TaskRecord, method: str, url: str, headers: List[Tuple[str, str]], timeout: float) -> int:
    """One attempt of `task` over HTTP: the status, NO_ANSWER_STATUS on a timeout, 0 if no
    connection. http.client adds Host and Content-Length only (Cloud Tasks sets no Content-Type)."""
    parts = urllib.parse.urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=task.payload or None, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return response.status
    except (socket.timeout, TimeoutError):
        return NO_ANSWER_STATUS
    except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: a URL http.client refuses
        log.warning("task %s of queue %s: %s %s failed: %s", task.name, task.queue, method, url, exc)
        return 0
    finally:
        connection.close()
