"""`--reload`: a small supervisor that runs the server in a child process and restarts it when a
source or yaml file under an app's root changes (mtime polling: no extra dependency).

The first start's failure (bad config, port in use) ends the supervisor with the child's exit code;
after a change, a failing child is reported and the supervisor waits for the next change.

Imports: the standard library only.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

log = logging.getLogger("gae_emu.reloader")

WATCHED_SUFFIXES = (".py", ".yaml", ".yml")
SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".pytest_cache"}
POLL_SECONDS = 1.0


def snapshot(roots: Sequence[Path]) -> Dict[str, float]:
    mtimes: Dict[str, float] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith(".")]
            for name in filenames:
                if name.endswith(WATCHED_SUFFIXES):
                    path = os.path.join(dirpath, name)
                    try:
                        mtimes[path] = os.stat(path).st_mtime
                    except OSError:
                        pass
    return mtimes


def supervise(args: List[str], roots: Sequence[Path]) -> int:
    command = [sys.executable, "-m", "gae_emu", *args]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    first = True
    while True:
        before = snapshot(roots)
        child = subprocess.Popen(command)
        while not stopping:
            time.sleep(POLL_SECONDS)
            code = child.poll()
            if code is not None:
                if first:
                    return code
                log.error("the server exited with code %s; waiting for a change to restart", code)
                while not stopping and snapshot(roots) == before:
                    time.sleep(POLL_SECONDS)
                break
            first = False
            if snapshot(roots) != before:
                log.info("a file changed; restarting")
                _terminate(child)
                break
        if stopping:
            _terminate(child)
            return 0


def _terminate(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
