"""`FileWatcher`: a configuration loaded from files and reloaded when any of them changes.

cron.yaml, dispatch.yaml and index.yaml are picked up live while serving, as queue.yaml is
(`QueueConfigWatcher`): `current()` stats the files at most every `interval` seconds; a file that
appears, changes or disappears is loaded again; a broken edit is logged and the last good value
stays in force (the error is kept in `last_error` for the admin console).

Imports: the standard library, `gae_emu.config.errors`.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Generic, Optional, Sequence, Tuple, TypeVar

from gae_emu.config.errors import ConfigError

log = logging.getLogger("gae_emu.config")

T = TypeVar("T")
Signature = Tuple[Tuple[str, int, int, int], ...]


def stat_signature(paths: Sequence[Path]) -> Signature:
    """Which of `paths` exist, with mtime, size and inode: any change means reload."""
    found = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        found.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(found)


class FileWatcher(Generic[T]):
    def __init__(self, name: str, paths: Sequence[Path], load: Callable[[], T], *, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 on_reload: Optional[Callable[[T], None]] = None) -> None:
        self.name = name
        self.paths = [Path(p) for p in paths]
        self._load = load
        self.interval = interval
        self._clock = clock
        self._on_reload = on_reload
        self._lock = threading.Lock()
        self._signature = stat_signature(self.paths)
        self._value = load()  # a broken file at start-up is the user's to fix: it raises
        self._checked_at = clock()
        self.last_error: Optional[ConfigError] = None

    def current(self) -> T:
        now = self._clock()
        if now - self._checked_at < self.interval:
            return self._value
        with self._lock:
            if now - self._checked_at >= self.interval:
                self._checked_at = now
                signature = stat_signature(self.paths)
                if signature != self._signature:
                    self._signature = signature
                    self._reload()
            return self._value

    def _reload(self) -> None:
        try:
            value = self._load()
        except ConfigError as exc:
            self.last_error = exc
            log.error("%s not reloaded, keeping the previous version:\n%s", self.name, exc)
            return
        self._value, self.last_error = value, None
        log.info("%s reloaded", self.name)
        if self._on_reload is not None:
            self._on_reload(value)
