"""The last requests served (for the admin console's request log), kept in memory.

Imports: the standard library and `gae_emu.runtime.environ`, `gae_emu.runtime.dispatch`.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Deque, List

from gae_emu.runtime.dispatch import DISPATCH_RULE_KEY
from gae_emu.runtime.environ import INTERNAL_KEY


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


class RequestLog:
    def __init__(self, size: int = 500) -> None:
        self._records: Deque[RequestRecord] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, environ: dict, status: int, seconds: float) -> None:
        entry = RequestRecord(
            time=time.time(),
            method=environ.get("REQUEST_METHOD", ""),
            path=environ.get("PATH_INFO", "") + (("?" + environ["QUERY_STRING"]) if environ.get("QUERY_STRING") else ""),
            status=status,
            seconds=seconds,
            internal=environ.get(INTERNAL_KEY) is True,
            task_name=environ.get("HTTP_X_APPENGINE_TASKNAME", "") if environ.get(INTERNAL_KEY) is True else "",
            dispatch_rule=environ.get(DISPATCH_RULE_KEY, ""),
        )
        with self._lock:
            self._records.append(entry)

    def recent(self, limit: int = 100) -> List[RequestRecord]:
        with self._lock:
            return list(self._records)[-limit:][::-1]
