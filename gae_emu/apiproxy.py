"""The one handle app code uses to reach the services of the running emulator (App Engine's API proxy).

`gae_emu.api` and `gae_emu.ext` call `current()` and never hold services of their own. The dev
server (or `gae_emu.testing`) `install()`s a `Services` before any app code runs. Per-request facts
the client APIs need (the request's Host, its service, the current datastore transaction) travel in
context variables set here, so threads serving different requests never see each other's.

Imports: the standard library and `gae_emu.storage` only (services are passed in, not imported).
"""
from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Optional
from contextlib import contextmanager

from gae_emu.storage import Storage


@dataclass
class Services:
    """Everything one running emulator holds: its storage and its service objects."""

    app_id: str  # full id as App Engine reports it, e.g. "dev~sample-app"
    storage: Storage
    taskqueue: Any = None  # gae_emu.services.taskqueue.TaskQueueService
    datastore: Any = None  # gae_emu.services.datastore.DatastoreService
    memcache: Any = None  # gae_emu.services.memcache.MemcacheService
    mail: Any = None  # gae_emu.services.mail.MailService
    blobstore: Any = None  # gae_emu.services.blobstore.BlobstoreService
    # service name -> default hostname ("localhost:8080", "worker.localhost:8080"); filled by the runtime
    hostnames: Dict[str, str] = field(default_factory=dict)
    default_service: str = "default"
    settings: Dict[str, Any] = field(default_factory=dict)

    def hostname(self, service: Optional[str] = None) -> str:
        return self.hostnames.get(service or self.default_service, "localhost")


class NoEmulatorError(RuntimeError):
    """App code called an App Engine API outside a running emulator or testbed."""


_lock = threading.Lock()
_installed: Optional[Services] = None

# The WSGI environ of the request being served on this thread/context (None outside a request).
request_environ: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar(
    "gae_emu_request_environ", default=None
)
# The datastore transaction open in this context (set by gae_emu.ext.db.run_in_transaction).
current_transaction: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "gae_emu_current_transaction", default=None
)


def install(services: Services) -> None:
    global _installed
    with _lock:
        _installed = services


def uninstall(services: Optional[Services] = None) -> None:
    global _installed
    with _lock:
        if services is None or _installed is services:
            _installed = None


def current() -> Services:
    services = _installed
    if services is None:
        raise NoEmulatorError(
            "No App Engine services are available: run the app under `gae-emu dev`, "
            "or wrap the code in `gae_emu.testing.services()`."
        )
    return services


@contextmanager
def serving(environ: dict) -> Iterator[None]:
    """Mark `environ` as the request being served while app code runs."""
    token = request_environ.set(environ)
    try:
        yield
    finally:
        request_environ.reset(token)


def run_in_context(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call fn in a copy of the current context (for threads started on behalf of a request)."""
    return contextvars.copy_context().run(fn, *args, **kwargs)
