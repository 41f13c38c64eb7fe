"""Task queue data: the limits of B5, the task a caller adds (`NewTask`), the task as stored
(`TaskRecord`), per-queue statistics, and `task_size`, the one size formula the service and the
client API (`gae_emu.api.taskqueue`) both use.

Imports: the standard library and `gae_emu.config.models` (RetryParameters) only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Tuple

from gae_emu.config.models import RetryParameters

MAX_QUEUE_NAME_LENGTH = 100
MAX_TASK_NAME_LENGTH = 500
MAX_PUSH_TASK_SIZE_BYTES = 100 * 2**10
MAX_PULL_TASK_SIZE_BYTES = 2**20
MAX_HTTP_TASK_SIZE_BYTES = 2**20  # Cloud Tasks HTTP targets: 1 MB (App Engine targets: 100 KB)
MAX_TASKS_PER_ADD = 100
MAX_TASKS_PER_TRANSACTION = 5  # datastore AddActions refuses more
MAX_TRANSACTIONAL_REQUEST_SIZE_BYTES = 2**20
MAX_URL_LENGTH = 2083
MAX_TAG_LENGTH = 500
MAX_TASKS_PER_LEASE = 1000
MAX_LEASE_SECONDS = 3600 * 24 * 7
MAX_ETA_SECONDS = 3600 * 24 * 30  # an eta further ahead than this is refused
DEFAULT_QUEUE_PATH = "/_ah/queue"
TOMBSTONE_TTL_SECONDS = 9 * 86400  # production keeps queue.yaml tombstones about 9 days
API_QUEUE_TOMBSTONE_TTL_SECONDS = 3600  # and those of queues created through Cloud Tasks about an hour

TASK_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,%d}$" % MAX_TASK_NAME_LENGTH
TASK_NAME_RE = re.compile(TASK_NAME_PATTERN)
QUEUE_NAME_PATTERN = r"^[a-zA-Z0-9-]{1,%d}$" % MAX_QUEUE_NAME_LENGTH
QUEUE_NAME_RE = re.compile(QUEUE_NAME_PATTERN)

PUSH_METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE")
HTTP_TARGET_METHODS = ("PATCH", "OPTIONS")  # Cloud Tasks HTTP targets may also use these
PULL_METHOD = "PULL"

# Queues whose queue.yaml entry leaves max_concurrent_requests unset run at most this many tasks at
# once. Production sets no small limit, and claims (one transaction each) are at most this large, so
# a low bound would cap dispatch throughput. Hung handlers of one queue cannot starve the others:
# the dispatcher replaces a worker stuck longer than its stall_after.
DEFAULT_MAX_CONCURRENT_REQUESTS = 100

# The User-Agent of production's task requests to App Engine targets (and to HTTP targets).
APP_ENGINE_TASK_USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)"
HTTP_TASK_USER_AGENT = "Google-Cloud-Tasks"

HEADER_SEPARATOR_LENGTH = len(": \r\n")


def default_url(queue: str) -> str:
    return f"{DEFAULT_QUEUE_PATH}/{queue}"


def task_size(method: str, url: str, payload: Optional[bytes], headers: Iterable[Tuple[str, str]]) -> int:
    """A task's size as App Engine's client counts it (B5). `url` is the relative URL as given:
    the client counts an empty one for tasks on the queue's default URL."""
    header_bytes = 0
    for key, value in headers:
        header_bytes += len(key) + len(value) + HEADER_SEPARATOR_LENGTH
    return len(method) + len(payload or b"") + len(url) + header_bytes


@dataclass(frozen=True)
class HttpTarget:
    """A Cloud Tasks HTTP-target task: its `url` is absolute and it is sent over HTTP, not through
    the router; an OIDC or OAuth service account makes the dispatcher add a bearer token."""

    oidc_email: Optional[str] = None
    oidc_audience: Optional[str] = None
    oauth_email: Optional[str] = None
    oauth_scope: Optional[str] = None


# NewTask and TaskRecord are values (nothing changes one in place; `dataclasses.replace` makes a
# changed copy) but not frozen: a frozen dataclass of this size costs 4 µs to build instead of
# 0.6, and every task is built as both, once per add and once per claim.


@dataclass
class NewTask:
    """A task to add. `url=""` means the queue's default URL; `eta=None` means now;
    `method="PULL"` makes a pull task."""

    queue: str = "default"
    name: Optional[str] = None
    url: str = ""
    method: str = "POST"
    headers: Tuple[Tuple[str, str], ...] = ()
    payload: bytes = b""
    eta: Optional[float] = None
    target: Optional[str] = None
    retry: Optional[RetryParameters] = None
    tag: Optional[str] = None
    dispatch_deadline: Optional[float] = None  # seconds; None = the dispatcher's default
    http: Optional[HttpTarget] = None  # set: an HTTP-target task (Cloud Tasks), `url` absolute

    @property
    def is_pull(self) -> bool:
        return self.method.upper() == PULL_METHOD

    @property
    def size(self) -> int:
        return task_size(self.method, self.url, self.payload, self.headers)


@dataclass
class TaskRecord:
    """A stored task. For pull tasks `eta` is also the lease expiry, as in production."""

    queue: str
    name: str
    url: str
    method: str
    headers: Tuple[Tuple[str, str], ...]
    payload: bytes
    eta: float
    created: float
    target: Optional[str] = None  # the task's own target, else its queue's at add time
    retry: Optional[RetryParameters] = None  # the task's own options (the queue's apply if None)
    retry_count: int = 0
    execution_count: int = 0
    first_try: Optional[float] = None  # when the first attempt started
    last_response: Optional[int] = None  # HTTP status of the previous attempt (0 = no response)
    tag: Optional[str] = None
    dispatch_deadline: Optional[float] = None
    in_flight: bool = False
    mode: str = "push"
    http: Optional[HttpTarget] = None
    # The deliverer's account of the attempt being completed (target, url, status, time), for the
    # queue to finish with what happens next: a failed attempt is one console line, not two.
    attempt_line: str = field(default="", compare=False, repr=False)

    @property
    def state(self) -> str:
        return "in-flight" if self.in_flight else "queued"

    @property
    def size(self) -> int:
        return task_size(self.method, self.url, self.payload, self.headers)


@dataclass
class QueueStats:
    """What the admin console and `Queue.fetch_statistics` show for one queue."""

    queue: str
    mode: str = "push"
    tasks: int = 0
    oldest_eta: Optional[float] = None  # of a task not in flight
    in_flight: int = 0
    retrying: int = 0  # waiting out a retry backoff after a failed attempt
    failed: int = 0  # still queued after at least one failed attempt (retrying, or in flight again)
    executed_last_minute: int = 0
    failures: int = 0  # tasks dropped after exhausting their retry limits (since start)
    rate: Optional[str] = None
    max_concurrent_requests: Optional[int] = None
    paused: bool = False  # paused through Cloud Tasks' PauseQueue
    api: bool = False  # created through the Cloud Tasks API (else queue.yaml's)
    extra: dict = field(default_factory=dict)
