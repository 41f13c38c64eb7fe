"""The last requests served (for the admin console's request log), kept in memory: who asked
what of which service, and the headers in and out (for the console's detail view).

Imports: the standard library and `gae_emu.runtime.environ`, `gae_emu.runtime.dispatch`.
"""
from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, Deque, List, Optional, Tuple

from gae_emu.runtime.dispatch import DISPATCH_RULE_KEY
from gae_emu.runtime.environ import INTERNAL_KEY, USER_KEY

SERVICE_KEY = "gae_emu.service"  # set by the router (runtime/router.py)


@dataclass  # not frozen: one is built per request, tasks included, and frozen ones cost 3x more
class RequestRecord:
    time: float
    method: str
    path: str
    status: int
    seconds: float
    internal: bool
    task_name: str
    dispatch_rule: str = ""  # the dispatch.yaml rule that routed it, if one did
    id: int = 0
    service: str = ""
    user: str = ""  # the signed-in user's email
    host: str = ""
    headers_in: Optional[List[Tuple[str, str]]] = None
    headers_out: Optional[List[Tuple[str, str]]] = None


class RequestLog:
    def __init__(self, size: int = 500) -> None:
        self._records: Deque[RequestRecord] = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def record(self, environ: dict, status: int, seconds: float, response: Any = None) -> None:
        entry = RequestRecord(
            time=time.time(),
            method=environ.get("REQUEST_METHOD", ""),
            path=environ.get("PATH_INFO", "") + (("?" + environ["QUERY_STRING"]) if environ.get("QUERY_STRING") else ""),
            status=status,
            seconds=seconds,
            internal=environ.get(INTERNAL_KEY) is True,
            task_name=environ.get("HTTP_X_APPENGINE_TASKNAME", "") if environ.get(INTERNAL_KEY) is True else "",
            dispatch_rule=environ.get(DISPATCH_RULE_KEY, ""),
            id=next(self._ids),
            service=environ.get(SERVICE_KEY, ""),
            user=getattr(environ.get(USER_KEY), "email", "") or "",
            host=environ.get("HTTP_HOST", ""),
        )
        # The headers are worked out only when the console shows them: every task is a request, and
        # turning CGI names back into header names for each cost the drain several percent.
        raw = {k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))}
        entry._raw = (raw, getattr(response, "headers", None))  # type: ignore[attr-defined]
        with self._lock:
            self._records.append(entry)

    def get(self, record_id: int) -> Optional[RequestRecord]:
        with self._lock:
            found = next((r for r in self._records if r.id == record_id), None)
        return _with_headers(found) if found is not None else None

    def recent(self, limit: int = 100) -> List[RequestRecord]:
        with self._lock:
            records = list(self._records)[-limit:][::-1]
        return [_with_headers(r) for r in records]


def _with_headers(record: RequestRecord) -> RequestRecord:
    raw = record.__dict__.pop("_raw", None)
    if raw is not None:
        environ, response_headers = raw
        record.headers_in = _headers_in(environ)
        record.headers_out = _headers_out(response_headers)
    return record


def _headers_in(environ: dict) -> List[Tuple[str, str]]:
    """The request's headers as the client sent them (CGI names turned back into header names)."""
    headers = [(key[5:].replace("_", "-").title(), value) for key, value in environ.items()
               if key.startswith("HTTP_") and isinstance(value, str)]
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers.append((key.replace("_", "-").title(), str(environ[key])))
    return sorted(headers)


def _headers_out(headers: Any) -> List[Tuple[str, str]]:
    """A werkzeug Response's headers, or a BufferedResponse's list (None: not known)."""
    if headers is None:
        return []
    return [(str(k), str(v)) for k, v in (headers.items() if hasattr(headers, "items") else headers)]
