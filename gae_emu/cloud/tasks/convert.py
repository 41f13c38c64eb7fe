"""Cloud Tasks v2 messages to the task queue service's values and back: `Queue` <-> `QueueDef`,
`Task` -> `NewTask`, `TaskRecord` -> `Task`. Checks of the request (field ranges, body rules) raise
`CloudTasksError` INVALID_ARGUMENT with the field named; rules shared with the legacy API (names,
sizes, etas, tombstones) are the service's.

Mapping, as production documents it: `max_dispatches_per_second` is queue.yaml's `rate`,
`max_burst_size` its `bucket_size` (output only; derived from the rate for API queues),
`max_concurrent_dispatches` its `max_concurrent_requests`, `max_attempts` = `task_retry_limit` + 1
(-1: unlimited), `max_retry_duration` its `task_age_limit`, and `app_engine_routing_override` its
`target`. Messages are the raw protobuf classes of google-cloud-tasks (exact timestamps).

Imports: the standard library, google-cloud-tasks, `gae_emu.config.models`,
`gae_emu.services.taskqueue`, this package.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional, Tuple

from google.cloud import tasks_v2

from gae_emu.config.models import QueueDef, RetryParameters
from gae_emu.services.taskqueue.models import (
    APP_ENGINE_TASK_USER_AGENT,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    HTTP_TASK_USER_AGENT,
    HttpTarget,
    NewTask,
    TaskRecord,
)
from gae_emu.services.taskqueue.retry import resolve

from .errors import invalid
from .names import Names

Queue = tasks_v2.Queue.pb()
Task = tasks_v2.Task.pb()

# Production's defaults for a queue created through the API, and its limits.
DEFAULT_DISPATCHES_PER_SECOND = 500.0
MAX_DISPATCHES_PER_SECOND = 500.0
DEFAULT_CONCURRENT_DISPATCHES = 1000
MAX_CONCURRENT_DISPATCHES = 5000
DEFAULT_MAX_ATTEMPTS = 100
MAX_BURST_SIZE = 500
DEFAULT_DISPATCH_DEADLINE = 600.0  # what production applies when a task sets none
APP_ENGINE_DEADLINE = (15.0, 24 * 3600.0)
HTTP_DEADLINE = (15.0, 30 * 60.0)
BODY_METHODS = ("POST", "PUT", "PATCH")
# Headers the service sets itself; a task's own copies are dropped when it is created.
IGNORED_HEADERS = ("host", "content-length", "user-agent", "x-google-", "x-appengine-", "x-cloudtasks-")

STATE = tasks_v2.Queue.State
VIEW = tasks_v2.Task.View
METHOD_NAMES = {m.value: m.name for m in tasks_v2.HttpMethod if m.value}
METHOD_NUMBERS = {name: number for number, name in METHOD_NAMES.items()}
# HTTP status -> google.rpc.Code, for Attempt.response_status.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 499: 1, 500: 13, 501: 12, 503: 14, 504: 4}


def burst_size(rate: float) -> int:
    """max_burst_size for an API queue: production picks it from the rate (its formula is not
    published); one fifth of the rate, between 1 and 500, gives its default 100 at 500/s."""
    return max(1, min(MAX_BURST_SIZE, math.ceil(rate / 5)))


def _seconds(duration: Any) -> float:
    return duration.seconds + duration.nanos / 1e9


def _set_seconds(duration: Any, seconds: float) -> None:
    duration.FromNanoseconds(int(round(seconds * 1e9)))


# -- queues ---------------------------------------------------------------------------------------


def queue_to_pb(queue: QueueDef, names: Names) -> Any:
    message = Queue(name=names.queue(queue.name))
    if queue.target:
        service, version, instance = _routing(queue.target)
        message.app_engine_routing_override.service = service
        message.app_engine_routing_override.version = version
        message.app_engine_routing_override.instance = instance
    limits = message.rate_limits
    limits.max_dispatches_per_second = queue.rate_per_second if queue.rate_per_second is not None else DEFAULT_DISPATCHES_PER_SECOND
    limits.max_burst_size = queue.bucket_size or (burst_size(limits.max_dispatches_per_second) if queue.api else 5)
    limits.max_concurrent_dispatches = queue.max_concurrent_requests or DEFAULT_MAX_CONCURRENT_REQUESTS
    policy = resolve(None, queue.retry_parameters)
    retry = message.retry_config
    retry.max_attempts = -1 if policy.retry_limit is None else policy.retry_limit + 1
    if policy.age_limit is not None:
        _set_seconds(retry.max_retry_duration, policy.age_limit)
    else:
        retry.max_retry_duration.SetInParent()
    _set_seconds(retry.min_backoff, policy.min_backoff)
    _set_seconds(retry.max_backoff, policy.max_backoff)
    retry.max_doublings = policy.max_doublings
    message.state = STATE.PAUSED if queue.paused or queue.rate_per_second == 0 else STATE.RUNNING
    if queue.purge_time is not None:
        message.purge_time.FromNanoseconds(int(round(queue.purge_time * 1e9)))
    return message


def queue_from_pb(message: Any, queue_id: str) -> QueueDef:
    """The definition an API queue gets from a Queue message (unset fields: production's defaults)."""
    limits = message.rate_limits
    rate = limits.max_dispatches_per_second or DEFAULT_DISPATCHES_PER_SECOND
    if not 0 < rate <= MAX_DISPATCHES_PER_SECOND:
        raise invalid(f"RateLimits.max_dispatches_per_second must be in (0, {MAX_DISPATCHES_PER_SECOND:g}]; found {rate:g}.")
    concurrent = limits.max_concurrent_dispatches or DEFAULT_CONCURRENT_DISPATCHES
    if not 0 < concurrent <= MAX_CONCURRENT_DISPATCHES:
        raise invalid(f"RateLimits.max_concurrent_dispatches must be in [1, {MAX_CONCURRENT_DISPATCHES}]; found {concurrent}.")
    retry = message.retry_config
    attempts = retry.max_attempts or DEFAULT_MAX_ATTEMPTS
    if attempts < -1:
        raise invalid(f"RetryConfig.max_attempts must be -1 (unlimited) or positive; found {attempts}.")
    for field in ("max_retry_duration", "min_backoff", "max_backoff"):
        if retry.HasField(field) and _seconds(getattr(retry, field)) < 0:
            raise invalid(f"RetryConfig.{field} cannot be negative.")
    if retry.max_doublings < 0:
        raise invalid(f"RetryConfig.max_doublings cannot be negative; found {retry.max_doublings}.")
    low = _seconds(retry.min_backoff) if retry.HasField("min_backoff") else None
    high = _seconds(retry.max_backoff) if retry.HasField("max_backoff") else None
    if low is not None and high is not None and high < low:
        raise invalid("RetryConfig.max_backoff must be at least RetryConfig.min_backoff.")
    age = _seconds(retry.max_retry_duration) if retry.HasField("max_retry_duration") else 0.0
    routing = message.app_engine_routing_override
    target = _target(routing.service, routing.version, routing.instance) if message.HasField("app_engine_routing_override") else None
    return QueueDef(
        name=queue_id, rate=f"{rate:g}/s", rate_per_second=rate, bucket_size=burst_size(rate),
        max_concurrent_requests=concurrent, target=target,
        retry_parameters=RetryParameters(
            task_retry_limit=None if attempts == -1 else attempts - 1, task_age_limit=age or None,
            min_backoff_seconds=low, max_backoff_seconds=high,
            max_doublings=retry.max_doublings or None),
    )


def _target(service: str, version: str, instance: str) -> Optional[str]:
    """The service queue's `target` spelling, `[instance.][version.]service`."""
    if not service:
        return None
    return ".".join(p for p in (instance, version, service) if p)


def _routing(target: str) -> Tuple[str, str, str]:
    parts = target.split(".")
    service = parts[-1]
    version = parts[-2] if len(parts) > 1 else ""
    instance = parts[-3] if len(parts) > 2 else ""
    return service, version, instance


# -- tasks ----------------------------------------------------------------------------------------


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _headers(given: Mapping[str, str]) -> list:
    """The task's own headers, minus those the service sets; a name that is not an HTTP token or
    a value with a line break is INVALID_ARGUMENT (it could not be sent)."""
    for key, value in given.items():
        if not _HEADER_NAME.match(key) or "\r" in value or "\n" in value or "\0" in value:
            raise invalid(f"Invalid HTTP header {key!r}: names are HTTP tokens and values hold no line breaks.")
    return [(k, v) for k, v in given.items() if not k.lower().startswith(IGNORED_HEADERS)]


def _method(number: int, body: bytes) -> str:
    method = METHOD_NAMES.get(number, "POST")
    if body and method not in BODY_METHODS:
        raise invalid(f"Task body can only be set for HTTP methods POST, PUT or PATCH; found {method}.")
    return method


def _deadline(task: Any, bounds: Tuple[float, float]) -> Optional[float]:
    if not task.HasField("dispatch_deadline"):
        return None
    seconds = _seconds(task.dispatch_deadline)
    if not bounds[0] <= seconds <= bounds[1]:
        raise invalid(f"Task.dispatch_deadline must be between {bounds[0]:g}s and {bounds[1]:g}s; found {seconds:g}s.")
    return seconds


def task_from_pb(task: Any, queue: QueueDef, names: Names) -> NewTask:
    """The task CreateTask asks for, to add to `queue`."""
    name = None
    if task.name:
        queue_id, name = names.parse_task(task.name)
        if queue_id != queue.name:
            raise invalid(f"The queue name from request ('{names.queue(queue.name)}') must be the same as the "
                          f"queue name in the named task ('{names.queue(queue_id)}').")
    eta = task.schedule_time.ToNanoseconds() / 1e9 if task.HasField("schedule_time") else None
    kind = task.WhichOneof("message_type")
    if kind == "http_request":
        request = task.http_request
        if not request.url.lower().startswith(("http://", "https://")):
            raise invalid(f"HttpRequest.url must start with 'http://' or 'https://'; found {request.url!r}.")
        http = HttpTarget(
            oidc_email=request.oidc_token.service_account_email or None if request.HasField("oidc_token") else None,
            oidc_audience=request.oidc_token.audience or None if request.HasField("oidc_token") else None,
            oauth_email=request.oauth_token.service_account_email or None if request.HasField("oauth_token") else None,
            oauth_scope=request.oauth_token.scope or None if request.HasField("oauth_token") else None,
        )
        headers = _headers(request.headers) + [("User-Agent", HTTP_TASK_USER_AGENT)]
        return NewTask(queue=queue.name, name=name, url=request.url, method=_method(request.http_method, request.body),
                       headers=tuple(headers), payload=request.body, eta=eta, http=http,
                       dispatch_deadline=_deadline(task, HTTP_DEADLINE))
    if kind != "app_engine_http_request":
        raise invalid("Task must set app_engine_http_request or http_request.")
    request = task.app_engine_http_request
    uri = request.relative_uri or "/"
    if not uri.startswith("/"):
        raise invalid(f"AppEngineHttpRequest.relative_uri must begin with '/'; found {uri!r}.")
    method = _method(request.http_method, request.body)
    if method in ("PATCH", "OPTIONS"):
        raise invalid(f"AppEngineHttpRequest.http_method {method} is not supported for App Engine targets.")
    headers = _headers(request.headers)
    if request.body:
        headers.append(("Content-Length", str(len(request.body))))
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/octet-stream"))
    headers.append(("User-Agent", APP_ENGINE_TASK_USER_AGENT))
    routing = request.app_engine_routing
    # The queue's app_engine_routing_override wins over the task's routing.
    target = None if queue.target else _target(routing.service, routing.version, routing.instance)
    return NewTask(queue=queue.name, name=name, url=uri, method=method, headers=tuple(headers), payload=request.body,
                   eta=eta, target=target, dispatch_deadline=_deadline(task, APP_ENGINE_DEADLINE))


def task_to_pb(record: TaskRecord, names: Names, view: int, hostnames: Mapping[str, str]) -> Any:
    full = view == VIEW.FULL
    message = Task(name=names.task(record.queue, record.name), view=VIEW.FULL if full else VIEW.BASIC)
    method = METHOD_NUMBERS.get(record.method.upper(), METHOD_NUMBERS["POST"])
    if record.http is not None:
        request = message.http_request
        request.url, request.http_method = record.url, method
        http = record.http
        if http.oidc_email:
            request.oidc_token.service_account_email = http.oidc_email
            request.oidc_token.audience = http.oidc_audience or ""
        elif http.oauth_email:
            request.oauth_token.service_account_email = http.oauth_email
            request.oauth_token.scope = http.oauth_scope or ""
    else:
        request = message.app_engine_http_request
        request.relative_uri, request.http_method = record.url, method
        if record.target:
            service, version, instance = _routing(record.target)
            routing = request.app_engine_routing
            routing.service, routing.version, routing.instance = service, version, instance
            routing.host = hostnames.get(service, "")
    for key, value in record.headers:
        request.headers[key] = value
    if full:
        request.body = record.payload
    message.schedule_time.FromNanoseconds(int(round(record.eta * 1e9)))
    message.create_time.FromNanoseconds(int(round(record.created * 1e9)))
    _set_seconds(message.dispatch_deadline, record.dispatch_deadline or DEFAULT_DISPATCH_DEADLINE)
    message.dispatch_count = record.retry_count + (1 if record.in_flight else 0)
    message.response_count = record.execution_count
    if record.first_try is not None:
        message.first_attempt.dispatch_time.FromNanoseconds(int(round(record.first_try * 1e9)))
    if record.retry_count and record.last_response is not None:
        status = record.last_response
        message.last_attempt.response_status.code = 0 if 200 <= status < 300 else _RPC_CODES.get(status, 2)
        message.last_attempt.response_status.message = f"HTTP status code {status}" if status else "No response"
    return message
