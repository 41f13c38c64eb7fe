"""Lazy access to the protobuf message classes `appengine-python-standard` ships.

The wire format is Google's, so the messages are Google's own generated classes, imported on first
use: gae-emu installs and runs without the package (`pip install 'gae-emu[google]'` adds it), and only
the API server needs it. `pb()` returns one namespace holding every module the services use.

Each message module is loaded from its file without running its package's `__init__` where that is
heavy: `google.appengine.api.taskqueue`'s imports the whole client library and Cloud Tasks (0.5-0.9 s
of the emulator's start-up), and the emulator needs only the messages.

Imports: the standard library; `google.appengine.*` lazily.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

# attribute -> module of appengine-python-standard 3.x
MODULES = {
    "remote_api": "google.appengine.ext.remote_api.remote_api_bytes_pb2",
    "entity": "google.appengine.datastore.entity_bytes_pb2",
    "datastore": "google.appengine.datastore.datastore_v3_bytes_pb2",
    "api_base": "google.appengine.api.api_base_pb2",
    "taskqueue": "google.appengine.api.taskqueue.taskqueue_service_bytes_pb2",
    "memcache": "google.appengine.api.memcache.memcache_service_pb2",
    "user": "google.appengine.api.user_service_pb2",
    "modules": "google.appengine.api.modules.modules_service_pb2",
    "app_identity": "google.appengine.api.app_identity.app_identity_service_pb2",
    "mail": "google.appengine.api.mail_service_pb2",
    "urlfetch": "google.appengine.api.urlfetch_service_pb2",
    "blobstore": "google.appengine.api.blobstore.blobstore_service_pb2",
}
INSTALL_HINT = "pip install 'gae-emu[google]' (appengine-python-standard)"

_lock = threading.Lock()
_loaded: Optional[SimpleNamespace] = None


class LibraryMissing(ImportError):
    """appengine-python-standard is not installed, so the API server cannot decode requests."""


def _load(name: str):
    """The module `name`, its package `__init__` skipped (the messages need nothing from it)."""
    if name in sys.modules:
        return sys.modules[name]
    package, _, leaf = name.rpartition(".")
    try:
        root = importlib.util.find_spec("google.appengine")
        locations = list(root.submodule_search_locations or []) if root is not None else []
    except (ImportError, ValueError):
        locations = []
    relative = Path(*package.split(".")[2:], leaf + ".py")
    for location in locations:
        file = Path(location) / relative
        if file.is_file():
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                break
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
    return importlib.import_module(name)


def pb() -> SimpleNamespace:
    """The message modules, imported once (LibraryMissing if the package is absent)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                try:
                    _loaded = SimpleNamespace(**{k: _load(m) for k, m in MODULES.items()})
                except ImportError as exc:
                    raise LibraryMissing(f"{exc}; install it with {INSTALL_HINT}") from exc
    return _loaded


def library_available() -> bool:
    try:
        pb()
    except LibraryMissing:
        return False
    return True
