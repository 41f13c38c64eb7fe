"""Frozen models of a validated app.yaml and queue.yaml.

Loaders (`appyaml.py`, `queueyaml.py`) build these; everything else only reads them. Paths are
absolute; durations are seconds; regexes are compiled once here.

Imports: the standard library only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

LOGIN_VALUES = ("optional", "required", "admin")
AUTH_FAIL_ACTIONS = ("redirect", "unauthorized")
SECURE_VALUES = ("optional", "never", "always")
DEFERRED_URL = "/_ah/queue/deferred"
DEFAULT_SERVICE = "default"
# Retry defaults of App Engine's taskqueue protos (B7).
DEFAULT_MIN_BACKOFF_SECONDS = 0.1
DEFAULT_MAX_BACKOFF_SECONDS = 3600.0
DEFAULT_MAX_DOUBLINGS = 16


@dataclass(frozen=True)
class ScriptRef:
    """A WSGI application to import: `module` (dotted, importable from the app root) and `attr`."""

    module: str
    attr: str
    builtin: bool = False  # one of gae-emu's own handlers (gae_emu.handlers.*)

    def __str__(self) -> str:
        return f"{self.module}:{self.attr}"


@dataclass(frozen=True)
class Handler:
    """One entry of `handlers:`; exactly one of script / static_dir / static_files is set."""

    url: str
    pattern: re.Pattern = field(compare=False, repr=False)  # re.compile(url + "$"), matched on the path
    script: Optional[ScriptRef] = None
    static_dir: Optional[Path] = None  # absolute
    static_files: Optional[str] = None  # template relative to the app root, may hold \1 groups
    upload: Optional[str] = None  # regex of the files static_files may serve
    mime_type: Optional[str] = None
    expiration: Optional[int] = None  # seconds
    http_headers: Tuple[Tuple[str, str], ...] = ()
    require_matching_file: bool = False
    application_readable: bool = False
    login: str = "optional"
    auth_fail_action: str = "redirect"
    secure: str = "optional"
    redirect_http_response_code: Optional[int] = None
    position: Optional[str] = None  # "head" | "tail" for included handlers
    source: str = ""  # "path/app.yaml:12" for messages and `gae-emu check`

    @property
    def kind(self) -> str:
        if self.script is not None:
            return "script"
        return "static_dir" if self.static_dir is not None else "static_files"


@dataclass(frozen=True)
class ErrorHandler:
    file: Path  # absolute
    error_code: Optional[str] = None  # None = default; over_quota | dos_api_denial | timeout
    mime_type: Optional[str] = None


@dataclass(frozen=True)
class AppConfig:
    """A validated app.yaml: one service of an app."""

    path: Path  # the app.yaml file, absolute
    root: Path  # its directory
    application: str  # app id without the "dev~" prefix
    runtime: str
    service: str = DEFAULT_SERVICE
    version: str = "1"
    threadsafe: Optional[bool] = None
    api_version: Optional[str] = None
    entrypoint: Optional[str] = None
    env_variables: Tuple[Tuple[str, str], ...] = ()
    handlers: Tuple[Handler, ...] = ()  # after includes/builtins are merged, in match order
    builtins: Tuple[str, ...] = ()
    default_expiration: Optional[int] = None
    error_handlers: Tuple[ErrorHandler, ...] = ()
    inbound_services: Tuple[str, ...] = ()
    skip_files: Tuple[str, ...] = ()
    libraries: Tuple[Tuple[str, str], ...] = ()  # (name, version)
    app_engine_apis: bool = False

    @property
    def is_python3(self) -> bool:
        return self.runtime.startswith("python3")

    @property
    def app_id(self) -> str:
        """The full id App Engine's dev server reports (APPLICATION_ID)."""
        return f"dev~{self.application}"


@dataclass(frozen=True)
class RetryParameters:
    """queue.yaml `retry_parameters` (or a task's TaskRetryOptions); None means "not set"."""

    task_retry_limit: Optional[int] = None
    task_age_limit: Optional[float] = None  # seconds
    min_backoff_seconds: Optional[float] = None
    max_backoff_seconds: Optional[float] = None
    max_doublings: Optional[int] = None

    def effective(self) -> "RetryParameters":
        """The backoff a retry uses: unset fields take the proto defaults (B7: 0.1 s, 3600 s, 16
        doublings; limits stay None = unlimited), and a lone min or max is translated as App Engine
        translates queue.yaml: only min set and above the default max -> max = min; only max set and
        below the default min -> min = max. The stored fields keep exactly what the user wrote."""
        low, high = self.min_backoff_seconds, self.max_backoff_seconds
        if low is not None and high is None:
            high = max(low, DEFAULT_MAX_BACKOFF_SECONDS)
        elif high is not None and low is None:
            low = min(high, DEFAULT_MIN_BACKOFF_SECONDS)
        return RetryParameters(
            task_retry_limit=self.task_retry_limit,
            task_age_limit=self.task_age_limit,
            min_backoff_seconds=DEFAULT_MIN_BACKOFF_SECONDS if low is None else low,
            max_backoff_seconds=DEFAULT_MAX_BACKOFF_SECONDS if high is None else high,
            max_doublings=DEFAULT_MAX_DOUBLINGS if self.max_doublings is None else self.max_doublings,
        )


@dataclass(frozen=True)
class QueueDef:
    name: str
    mode: str = "push"  # push | pull
    rate: Optional[str] = None  # as written, e.g. "5/s"
    rate_per_second: Optional[float] = None
    bucket_size: Optional[int] = None
    max_concurrent_requests: Optional[int] = None
    target: Optional[str] = None  # "service" or "version.service"
    retry_parameters: Optional[RetryParameters] = None
    # Run state, kept by the task queue service (never written in queue.yaml): a paused queue
    # accepts tasks but dispatches none; `api` marks a queue created through Cloud Tasks, whose
    # rate limits are always enforced; `purge_time` is when it was last purged (Cloud Tasks shows it).
    paused: bool = False
    api: bool = False
    purge_time: Optional[float] = None


DEFAULT_QUEUE = QueueDef(name="default", rate="5/s", rate_per_second=5.0, bucket_size=5)


@dataclass(frozen=True)
class QueueConfig:
    """The queues of an app; `default` is always present."""

    queues: Tuple[QueueDef, ...] = (DEFAULT_QUEUE,)
    total_storage_limit: Optional[str] = None
    path: Optional[Path] = None  # the queue.yaml it came from, if any

    def get(self, name: str) -> Optional[QueueDef]:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(q.name for q in self.queues)
