"""`Task` and `TaskRetryOptions` of the client API, with the checks App Engine's client makes when
a task is built (B5): name, URL, method/payload/params rules, eta vs countdown, size, tag, Host
header vs target, and the namespace header.

Imports: the standard library, `gae_emu.apiproxy`, `gae_emu.config.models`, the service's
`models`/`validate` (limits, size formula, target parsing) and this package's `errors`.
"""
from __future__ import annotations

import calendar
import datetime
import functools
import math
import time
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from gae_emu import apiproxy
from gae_emu.config.models import RetryParameters
from gae_emu.services.taskqueue.models import (
    MAX_ETA_SECONDS,
    MAX_PULL_TASK_SIZE_BYTES,
    MAX_PUSH_TASK_SIZE_BYTES,
    MAX_TAG_LENGTH,
    MAX_URL_LENGTH,
    PULL_METHOD,
    PUSH_METHODS,
    TASK_NAME_PATTERN,
    TASK_NAME_RE,
    NewTask,
    TaskRecord,
    task_size,
)
from gae_emu.services.taskqueue.validate import target_service

from .errors import (
    InvalidDispatchDeadlineError,
    InvalidEtaError,
    InvalidTagError,
    InvalidTaskError,
    InvalidTaskNameError,
    InvalidTaskRetryOptionsError,
    InvalidUrlError,
    TaskTooLargeError,
)

NAMESPACE_HEADER = "X-AppEngine-Current-Namespace"
_BODY_METHODS = frozenset(["POST", "PUT", PULL_METHOD])
_MIN_DISPATCH_DEADLINE = 15.0
_MAX_DISPATCH_DEADLINE = 24 * 3600.0


class _AppVersion:
    def __init__(self, label: str) -> None:
        self._label = label

    def __repr__(self) -> str:
        return self._label


DEFAULT_APP_VERSION = _AppVersion("<DefaultApplicationVersion>")
_Queue: Any = None  # queue.Queue, once Task.add first needs it
_UNKNOWN_APP_VERSION = _AppVersion("<UnknownApplicationVersion>")


class TaskRetryOptions:
    """When a failed task is retried; validated as App Engine's client validates it (B7)."""

    _KWARGS = ("min_backoff_seconds", "max_backoff_seconds", "task_age_limit", "max_doublings", "task_retry_limit")

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(self._KWARGS)
        if unknown:
            raise TypeError("Invalid arguments: %s" % ", ".join(sorted(unknown)))
        min_b, max_b = kwargs.get("min_backoff_seconds"), kwargs.get("max_backoff_seconds")
        if min_b is not None and min_b < 0:
            raise InvalidTaskRetryOptionsError("The minimum retry interval cannot be negative")
        if max_b is not None and max_b < 0:
            raise InvalidTaskRetryOptionsError("The maximum retry interval cannot be negative")
        if min_b is not None and max_b is not None and max_b < min_b:
            raise InvalidTaskRetryOptionsError("The maximum retry interval cannot be less than the minimum retry interval")
        doublings, limit, age = kwargs.get("max_doublings"), kwargs.get("task_retry_limit"), kwargs.get("task_age_limit")
        if doublings is not None and doublings < 0:
            raise InvalidTaskRetryOptionsError("The maximum number of retry interval doublings cannot be negative")
        if limit is not None and limit < 0:
            raise InvalidTaskRetryOptionsError("The maximum number of retries cannot be negative")
        if age is not None:
            if age < 0:
                raise InvalidTaskRetryOptionsError("The expiry countdown cannot be negative")
            age = int(math.ceil(age))
        self.min_backoff_seconds, self.max_backoff_seconds = min_b, max_b
        self.max_doublings, self.task_retry_limit, self.task_age_limit = doublings, limit, age

    def to_parameters(self) -> RetryParameters:
        return RetryParameters(task_retry_limit=self.task_retry_limit, task_age_limit=self.task_age_limit,
                               min_backoff_seconds=self.min_backoff_seconds,
                               max_backoff_seconds=self.max_backoff_seconds, max_doublings=self.max_doublings)

    def __repr__(self) -> str:
        return "TaskRetryOptions(%s)" % ", ".join(f"{k}={getattr(self, k)!r}" for k in self._KWARGS)


class _Headers:
    """Case-insensitive headers that keep the case they were first written with."""

    def __init__(self, initial: Optional[Dict[str, Any]] = None) -> None:
        self._items: Dict[str, Tuple[str, Any]] = {k.lower(): (k, v) for k, v in (initial or {}).items()}

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> Any:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def setdefault(self, key: str, value: Any) -> Any:
        return self._items.setdefault(key.lower(), (key, value))[1]

    def as_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in self._items.values()}

    def flat(self) -> List[Tuple[str, str]]:
        """(name, value) pairs, a repeated header once per value."""
        pairs: List[Tuple[str, str]] = []
        for key, value in self._items.values():
            if value.__class__ is str:  # the usual case, first
                pairs.append((key, value))
                continue
            values = [value] if isinstance(value, bytes) or not hasattr(value, "__iter__") else list(value)
            pairs += [(key, v.decode("utf-8") if isinstance(v, bytes) else str(v)) for v in values]
        return pairs


def _encode_params(params: Dict[str, Any]) -> str:
    pairs: List[Tuple[str, Any]] = []
    for key, value in params.items():
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            pairs.append((key, value))
        else:
            pairs += [(key, v) for v in value]
    return urllib.parse.urlencode(pairs)


def _now() -> float:
    """The emulator's clock when one runs (tests may fake it), else the wall clock."""
    try:
        return apiproxy.current().taskqueue.clock()
    except Exception:
        return time.time()


def _eta_posix(eta: Optional[datetime.datetime], countdown: Any, now: float) -> float:
    if eta is not None and countdown is not None:
        raise InvalidTaskError("Cannot use a countdown and ETA together")
    if eta is not None:
        if not isinstance(eta, datetime.datetime):
            raise InvalidTaskError("ETA must be a datetime.datetime instance")
        if eta.tzinfo is None:
            return time.mktime(eta.timetuple()) + eta.microsecond * 1e-6
        return calendar.timegm(eta.utctimetuple()) + eta.microsecond * 1e-6
    if countdown is not None:
        try:
            return now + float(countdown)
        except (TypeError, ValueError):
            raise InvalidTaskError("Countdown must be a number") from None
    return now


@functools.lru_cache(maxsize=256)  # an app adds tasks to a few URLs, over and over
def _parse_url(url: str) -> Tuple[bool, str, str]:
    """(uses the queue's default URL, relative path, query)."""
    if not url:
        return True, "", ""
    scheme, netloc, path, query, fragment = urllib.parse.urlsplit(url)
    if scheme or netloc:
        raise InvalidUrlError("Relative URL cannot have a scheme or location")
    if fragment:
        raise InvalidUrlError("Relative URL cannot specify a fragment")
    if not path or path[0] != "/":
        raise InvalidUrlError('The relative URL path must start with "/"')
    if len(path) > MAX_URL_LENGTH:
        raise InvalidUrlError(f"The task URL must be less than {MAX_URL_LENGTH} characters; found {len(path)}")
    return False, path, query


def _max_push_size() -> int:
    try:
        return int(apiproxy.current().taskqueue.max_task_size)
    except Exception:
        return MAX_PUSH_TASK_SIZE_BYTES


class Task:
    """One task; build it, then `add()` it (or `Queue(name).add(task)`)."""

    _KWARGS = frozenset(["countdown", "eta", "headers", "method", "name", "params", "retry_options", "tag",
                         "target", "url", "dispatch_deadline", "dispatch_deadline_usec", "_size_check"])

    def __init__(self, payload: Any = None, **kwargs: Any) -> None:
        if not self._KWARGS.issuperset(kwargs):
            raise TypeError("Invalid arguments: %s" % ", ".join(sorted(set(kwargs) - self._KWARGS)))
        self.__name: Optional[str] = kwargs.get("name")
        if self.__name and not TASK_NAME_RE.match(self.__name):
            raise InvalidTaskNameError(f'The task name does not match expression "{TASK_NAME_PATTERN}"; found {self.__name}')
        self.__default_url, self.__url, query = _parse_url(kwargs.get("url") or "")
        self.__headers = _Headers(kwargs.get("headers") or {})
        self.__method = (kwargs.get("method") or "POST").upper()
        self.__tag: Optional[str] = kwargs.get("tag")
        self.__payload: Optional[bytes] = None
        self.__retry_count = 0
        self.__queue_name: Optional[str] = None
        self.__enqueued = self.__deleted = False
        self.__retry_options: Optional[TaskRetryOptions] = kwargs.get("retry_options")
        params = kwargs.get("params") or {}
        self.__headers.setdefault(NAMESPACE_HEADER, "")  # the namespace API is not emulated: always ""
        if query and params:
            raise InvalidTaskError("Query string and parameters both present; only one of these can be supplied")
        if self.__method != PULL_METHOD and self.__tag is not None:
            raise InvalidTaskError("tag can only be specified for pull tasks")
        if self.__method == PULL_METHOD:
            self.__init_pull(payload, params, kwargs)
        elif self.__method == "POST":
            if payload and params:
                raise InvalidTaskError("Message body and parameters both present for POST method; only one of these can be supplied")
            if query:
                raise InvalidTaskError('POST method cannot have a query string; use the "params" keyword argument instead')
            if params:
                self.__payload = _encode_params(params).encode("ascii")
                self.__headers.setdefault("content-type", "application/x-www-form-urlencoded")
            elif payload is not None:
                self.__payload = self.__convert_payload(payload)
        elif self.__method in PUSH_METHODS:
            if payload and self.__method not in _BODY_METHODS:
                raise InvalidTaskError("Payload can only be specified for methods %s" % ", ".join(sorted(_BODY_METHODS)))
            if payload:
                self.__payload = self.__convert_payload(payload)
            if params:
                query = _encode_params(params)
            if query:
                self.__url = f"{self.__url}?{query}"
        else:
            raise InvalidTaskError(f"Invalid method: {self.__method}")
        self.__target: Any = kwargs.get("target")
        self.__resolve_host_and_target()
        now = _now()
        self.__eta_posix = _eta_posix(kwargs.get("eta"), kwargs.get("countdown"), now)
        if self.__eta_posix - now > MAX_ETA_SECONDS:
            raise InvalidEtaError("ETA too far in the future")
        self.__dispatch_deadline = self.__deadline(kwargs)
        # Headers are final from here on (the `headers` property hands out a copy).
        self.__flat_headers = tuple(self.__headers.flat())
        if kwargs.get("_size_check", True):
            limit = MAX_PULL_TASK_SIZE_BYTES if self.__method == PULL_METHOD else _max_push_size()
            size = self.size
            if size > limit:
                raise TaskTooLargeError(f"Task size must be less than {limit}; found {size}")
            if self.__tag and len(self.__tag.encode("utf-8")) > MAX_TAG_LENGTH:
                raise InvalidTagError(f"Tag must be <= {MAX_TAG_LENGTH} bytes. Got a {len(self.__tag)} byte tag.")

    def __init_pull(self, payload: Any, params: Dict[str, Any], kwargs: Dict[str, Any]) -> None:
        if not self.__default_url:
            raise InvalidTaskError("url must not be specified for pull tasks")
        if kwargs.get("headers"):
            raise InvalidTaskError("headers must not be specified for pull tasks")
        if kwargs.get("target"):
            raise InvalidTaskError("target must not be specified for pull tasks")
        if params:
            if payload:
                raise InvalidTaskError("Message body and parameters both present for PULL method; only one of these can be supplied")
            payload = _encode_params(params)
        if payload is None:
            raise InvalidTaskError("payload must be specified for pull task")
        self.__payload = self.__convert_payload(payload)

    def __convert_payload(self, payload: Any) -> bytes:
        if isinstance(payload, str):
            if payload:
                self.__headers.setdefault("content-type", "text/plain; charset=utf-8")
            return payload.encode("utf-8")
        if isinstance(payload, (bytes, bytearray)):
            return bytes(payload)
        raise InvalidTaskError(f"Task payloads must be strings; invalid payload: {payload!r}")

    @staticmethod
    def __deadline(kwargs: Dict[str, Any]) -> Optional[float]:
        value = kwargs.get("dispatch_deadline")
        if isinstance(value, datetime.timedelta):
            value = value.total_seconds()
        if value is None and kwargs.get("dispatch_deadline_usec") is not None:
            value = kwargs["dispatch_deadline_usec"] / 1e6
        if value is None:
            return None
        if not _MIN_DISPATCH_DEADLINE <= float(value) <= _MAX_DISPATCH_DEADLINE:
            raise InvalidDispatchDeadlineError("Deadline must be between 15 seconds and 24 hours")
        return float(value)

    def __resolve_host_and_target(self) -> None:
        """Host header from the target, else the target from the Host header, else the current
        request's Host (B5), using the emulator's hostnames in place of *.appspot.com."""
        if self.__method == PULL_METHOD:
            return
        environ = apiproxy.request_environ.get() or {}
        try:
            hostnames = apiproxy.current().hostnames
        except Exception:
            hostnames = {}
        if self.__target is not None and "Host" in self.__headers:
            raise InvalidTaskError("A host header cannot be set when a target is specified.")
        if self.__target is DEFAULT_APP_VERSION:
            host = hostnames.get("default")
            if host:
                self.__headers["Host"] = host
        elif self.__target is not None:
            host = hostnames.get(target_service(self.__target))
            if host:
                self.__headers["Host"] = host
        else:
            host = self.__headers["Host"] if "Host" in self.__headers else environ.get("HTTP_HOST")
            if host:
                self.__headers["Host"] = host
                service = next((s for s, h in hostnames.items() if h == host), None)
                self.__target = DEFAULT_APP_VERSION if service in (None, "default") else service
            else:
                self.__target = _UNKNOWN_APP_VERSION

    # -- what the queue needs ---------------------------------------------------------------------

    def _to_new_task(self, queue_name: str) -> NewTask:
        explicit_target = self.__target if isinstance(self.__target, str) else None
        url = self.__url
        if self.__default_url and url:  # a query string on the queue's default URL
            url = f"/_ah/queue/{queue_name}{url}"
        return NewTask(
            queue=queue_name, name=self.__name, url=url, method=self.__method, headers=self.__flat_headers,
            payload=self.__payload or b"", eta=self.__eta_posix, target=explicit_target,
            retry=self.__retry_options.to_parameters() if self.__retry_options else None, tag=self.__tag,
            dispatch_deadline=self.__dispatch_deadline)

    def _enqueued(self, queue_name: str, name: str) -> None:
        self.__queue_name, self.__name, self.__enqueued = queue_name, name, True

    def _deleted(self, deleted: bool) -> None:
        self.__deleted = deleted

    def _set_eta_posix(self, eta: float) -> None:
        self.__eta_posix = eta

    @classmethod
    def _from_record(cls, record: TaskRecord) -> "Task":
        task = cls(payload=record.payload, name=record.name, method=PULL_METHOD, tag=record.tag, _size_check=False)
        task.__eta_posix, task.__retry_count = record.eta, record.retry_count
        task._enqueued(record.queue, record.name)
        return task

    # -- public properties ------------------------------------------------------------------------

    @property
    def name(self) -> Optional[str]:
        return self.__name

    @property
    def url(self) -> str:
        return self.__url

    @property
    def on_queue_url(self) -> bool:
        return self.__default_url

    @property
    def method(self) -> str:
        return self.__method

    @property
    def payload(self) -> Optional[bytes]:
        return self.__payload

    @property
    def headers(self) -> Dict[str, Any]:
        return self.__headers.as_dict()

    @property
    def eta_posix(self) -> float:
        return self.__eta_posix

    @property
    def eta(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.__eta_posix, datetime.timezone.utc)

    @property
    def _eta_usec(self) -> int:
        return int(round(self.__eta_posix * 1e6))

    @property
    def queue_name(self) -> Optional[str]:
        return self.__queue_name

    @property
    def retry_count(self) -> int:
        return self.__retry_count

    @property
    def retry_options(self) -> Optional[TaskRetryOptions]:
        return self.__retry_options

    @property
    def tag(self) -> Optional[str]:
        return self.__tag

    @property
    def target(self) -> Any:
        return self.__target

    @property
    def dispatch_deadline_usec(self) -> Optional[int]:
        return None if self.__dispatch_deadline is None else int(self.__dispatch_deadline * 1e6)

    @property
    def size(self) -> int:
        return task_size(self.__method, self.__url, self.__payload, self.__flat_headers)

    @property
    def was_enqueued(self) -> bool:
        return self.__enqueued

    @property
    def was_deleted(self) -> bool:
        return self.__deleted

    def add(self, queue_name: str = "default", transactional: bool = False) -> "Task":
        global _Queue
        if _Queue is None:  # an import per add costs about a microsecond
            from .queue import Queue  # queue.py imports this module
            _Queue = Queue
        return _Queue(queue_name).add(self, transactional)

    def extract_params(self) -> Dict[str, Any]:
        query = self.__payload.decode("utf-8") if self.__method in ("PULL", "POST") and self.__payload else \
            urllib.parse.urlsplit(self.__url).query
        found: Dict[str, Any] = {}
        for key, value in urllib.parse.parse_qsl(query or "", keep_blank_values=True, strict_parsing=bool(query)):
            found.setdefault(key, []).append(value.encode("utf-8"))
        return {k: v[0] if len(v) == 1 else v for k, v in found.items()}

    def __repr__(self) -> str:
        return f"Task<name={self.__name!r}, method={self.__method!r}, url={self.__url!r}, eta={self.eta!r}>"
