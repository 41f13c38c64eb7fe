"""`LiveRequests`: the API tickets of the requests the emulator is serving right now.

Every request the router hands to an app script carries a ticket (the request id, sent as
`X-AppEngine-Dev-Request-Id`); Google's client library sends it back with each API call, and the API
server accepts a call only while its ticket is live here (REFERENCE, "Ticket"). The entry holds the
request's WSGI environ, so an API call can see its caller's Host and user. One instance per emulator,
filled and cleared by `ServiceRouter` around each script call.

Imports: the standard library only.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Mapping, Optional


class LiveRequests:
    """A thread-safe map of live ticket -> the WSGI environ of its request."""

    def __init__(self) -> None:
        self._live: Dict[str, Mapping[str, Any]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def live(self, ticket: str, environ: Mapping[str, Any]) -> Iterator[None]:
        """Accept `ticket` for the duration of the block (the app call)."""
        with self._lock:
            self._live[ticket] = environ
        try:
            yield
        finally:
            with self._lock:
                self._live.pop(ticket, None)

    def pin(self, ticket: str, environ: Mapping[str, Any]) -> None:
        """Accept `ticket` until the emulator stops: a `gae-emu shell` holds one (shellaccess.py)."""
        with self._lock:
            self._live[ticket] = environ

    def get(self, ticket: str) -> Optional[Mapping[str, Any]]:
        with self._lock:
            return self._live.get(ticket)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)
