"""Console lines written in batches: the one line per task attempt that `gae-emu dev` prints.

A logging call costs tens of microseconds under the GIL (a record, a formatter, a locked write), and
a drain runs thousands of tasks a second: one call per task took a seventh of the drain's time. So
a successful attempt's line is only formatted and queued; a writer thread emits the queued lines
every `interval` as one log record (the first line carries the record's time and level). A line
that reports a failure is written at once, with everything queued before it, so a failing task's
story (its attempt, then its retry or give-up line) is printed in order.

Imports: the standard library only.
"""
from __future__ import annotations

import collections
import logging
import threading
from typing import Deque, Optional


class ConsoleBatch:
    """Lines for `logger` at INFO, queued and written in batches (failures at once)."""

    def __init__(self, logger: logging.Logger, interval: float = 0.05) -> None:
        self.logger = logger
        self.interval = interval
        self._lines: Deque[str] = collections.deque()
        self._write_lock = threading.Lock()  # one writer at a time keeps lines in order
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()

    def add(self, line: str, at_once: bool = False) -> None:
        self._lines.append(line)
        if at_once:
            self.flush()
            return
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="console-batch", daemon=True)
                    self._thread.start()

    def flush(self) -> None:
        with self._write_lock:
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            if lines:
                self.logger.info("%s", "\n".join(lines))

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self.flush()
