"""`--reload`, at two levels (mtime polling: no extra dependency).

`supervise` runs the whole server in a child process and restarts it when a yaml file changes, or a
source file of a classic service (those run in the server's process). A python3 service's source
files are watched by a `SourceWatcher` inside the server, which restarts only that service's
instance: the queues, datastore, API server and admin console keep running.

The first start's failure (bad config, port or storage in use) ends the supervisor with the child's
exit code: the child says it is serving by writing to a pipe (`signal_ready`), and until it has, its
exit is the supervisor's, however long start-up took. After a change, a failing child is reported and
the supervisor waits for the next change. The child
runs the same interpreter and the same gae_emu package as the supervisor (never one found in the
working directory).

Imports: the standard library only.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

log = logging.getLogger("gae_emu.reloader")

WATCHED_SUFFIXES = (".py", ".yaml", ".yml")
SKIPPED_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".pytest_cache"}
POLL_SECONDS = 1.0
# Picked up live by their watchers (a broken edit keeps the last good version); index.yaml is also
# written by the server itself. A change to them must not restart the server.
LIVE_FILES = {"cron.yaml", "dispatch.yaml", "index.yaml", "queue.yaml", "queue.yml"}
READY_FD_ENV = "GAE_EMU_READY_FD"  # the pipe the supervised server writes to once it serves


def snapshot(roots: Sequence[Path], suffixes: Tuple[str, ...] = WATCHED_SUFFIXES) -> Dict[str, float]:
    mtimes: Dict[str, float] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith(".")]
            for name in filenames:
                if name.endswith(suffixes) and name not in LIVE_FILES:
                    path = os.path.join(dirpath, name)
                    try:
                        mtimes[path] = os.stat(path).st_mtime
                    except OSError:
                        pass
    return mtimes


# `python -m gae_emu` would put the working directory first on sys.path, so a gae-emu checkout there
# would shadow the installed package; this runs the CLI as the console script does.
_CHILD = "import sys; sys.path[:] = [p for p in sys.path if p]; sys.argv[0] = 'gae-emu'; from gae_emu.cli import main; main()"


class Snapshots:
    """What one reload level watches: yaml files under `config_roots`, sources under `source_roots`."""

    def __init__(self, config_roots: Sequence[Path], source_roots: Sequence[Path]) -> None:
        self.config_roots, self.source_roots = list(config_roots), list(source_roots)

    def take(self) -> Dict[str, float]:
        mtimes = snapshot(self.config_roots, (".yaml", ".yml"))
        mtimes.update(snapshot(self.source_roots, (".py",)))
        return mtimes


def supervise(args: List[str], config_roots: Sequence[Path], source_roots: Sequence[Path] = ()) -> int:
    command = [sys.executable, "-c", _CHILD, *args]
    watched = Snapshots(config_roots, source_roots)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    first = True
    while True:
        before = watched.take()
        ready_read, ready_write = os.pipe()
        child = subprocess.Popen(command, pass_fds=(ready_write,), env={**os.environ, READY_FD_ENV: str(ready_write)})
        os.close(ready_write)
        ready = False
        try:
            while not stopping:
                if not ready:
                    ready = _wait_readable(ready_read, POLL_SECONDS)
                else:
                    time.sleep(POLL_SECONDS)
                code = child.poll()
                if code is not None and stopping:
                    break  # Ctrl-C reaches the whole process group: the server stopped with us
                if code is not None:
                    if first and not ready:
                        return code
                    log.error("the server exited with code %s; waiting for a change to restart", code)
                    while not stopping and watched.take() == before:
                        time.sleep(POLL_SECONDS)
                    break
                if ready:
                    first = False
                if watched.take() != before:
                    log.info("a file changed; restarting")
                    _terminate(child)
                    break
        finally:
            os.close(ready_read)
        if stopping:
            _terminate(child)
            return 0


def _wait_readable(fd: int, timeout: float) -> bool:
    """True once the child wrote its ready byte (EOF alone, a child that died, is not ready)."""
    readable, _, _ = select.select([fd], [], [], timeout)
    if not readable:
        return False
    if os.read(fd, 1):
        return True
    time.sleep(timeout)  # EOF: the child closed the pipe without a word; its exit is picked up next
    return False


def take_ready_fd() -> Optional[int]:
    """The supervised server's end of the ready pipe, taken out of the environment so instances
    started later do not inherit its name."""
    fd = os.environ.pop(READY_FD_ENV, None)
    return int(fd) if fd and fd.isdigit() else None


def signal_ready(fd: Optional[int]) -> None:
    """Called by the supervised server once it serves: the supervisor then treats a later exit as a
    crash to report rather than a start-up failure to pass on."""
    if fd is None:
        return
    try:
        os.write(fd, b"1")
        os.close(fd)
    except OSError:
        pass


def _terminate(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class SourceWatcher:
    """Polls each python3 service's folder for `.py` changes and calls `changed(service)`."""

    def __init__(self, changed: Callable[[str], None], interval: float = POLL_SECONDS) -> None:
        self.changed = changed
        self.interval = interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, roots: Mapping[str, Path]) -> None:
        self._thread = threading.Thread(target=self._run, args=(dict(roots),), name="source-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self, roots: Dict[str, Path]) -> None:
        before = {service: snapshot([root], (".py",)) for service, root in roots.items()}
        while not self._stop.wait(self.interval):
            for service, root in roots.items():
                now = snapshot([root], (".py",))
                if now != before[service]:
                    before[service] = now
                    try:
                        self.changed(service)
                    except Exception:  # a failed restart is reported by the instance itself
                        log.exception("restarting service %s failed", service)
