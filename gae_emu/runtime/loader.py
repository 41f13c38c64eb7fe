"""Importing the WSGI applications `script:` handlers name, once each, from the app's root.

Imports: the standard library, `gae_emu.config.models`.
"""
from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path
from typing import Callable, Dict

from gae_emu.config.models import ScriptRef

WsgiApp = Callable


class ScriptLoadError(Exception):
    """A script handler's module or attribute could not be loaded (shown as a 500 with the reason)."""


class ScriptLoader:
    """Caches the WSGI app of each ScriptRef; the app root goes first on sys.path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._apps: Dict[ScriptRef, WsgiApp] = {}
        self._lock = threading.Lock()

    def load(self, ref: ScriptRef) -> WsgiApp:
        app = self._apps.get(ref)
        if app is not None:
            return app
        with self._lock:
            if ref not in self._apps:
                self._apps[ref] = self._import(ref)
            return self._apps[ref]

    def _import(self, ref: ScriptRef) -> WsgiApp:
        root = str(self.root)
        if not ref.builtin and root not in sys.path:
            sys.path.insert(0, root)
        try:
            module = importlib.import_module(ref.module)
        except Exception as exc:
            raise ScriptLoadError(f"cannot import {ref.module}: {type(exc).__name__}: {exc}") from exc
        try:
            app = getattr(module, ref.attr)
        except AttributeError:
            raise ScriptLoadError(f"module {ref.module} has no attribute {ref.attr!r}") from None
        if not callable(app):
            raise ScriptLoadError(f"{ref} is not a WSGI application (not callable)")
        return app
