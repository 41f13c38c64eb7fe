"""Instances: each python3 service's code in its own process, started from its entrypoint, watched,
restarted when it dies, and reached over loopback HTTP (App Engine's and dev_appserver's model).

One `Instance` per service. Its supervisor thread owns the process for the instance's whole life: it
starts it with the service's environment and `$PORT`, waits until the port accepts connections,
sends `/_ah/warmup` when the service asks for it, then waits for the process to exit. An exit that
was not asked for is reported with its code and last output and the process is started again at
once; a process that keeps dying before it has served (an import error: gunicorn's master listens
before its worker imports the app, so an open port alone does not count) is started again after a
growing pause, and its service answers 503 with the reason meanwhile. Requests that arrive while an instance starts wait
for it.

Imports: the standard library, `gae_emu.runtime.entrypoint`, `gae_emu.runtime.proxy`.
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Deque, Dict, List, Optional, Tuple

from gae_emu.runtime.entrypoint import EntrypointError, InstanceCommand
from gae_emu.runtime.proxy import ConnectionPool, InstanceRefused, request_parts

log = logging.getLogger("gae_emu.instances")

START_TIMEOUT = 60.0  # seconds a request waits for a starting instance
MAX_BACKOFF = 30.0
OUTPUT_LINES = 40
STOP_GRACE = 5.0
# An instance that answered no request counts as started only after staying up this long: gunicorn's
# master opens the port before its worker imports the app, and exits when that import fails.
SETTLED_AFTER = 2.0

STARTING, READY, FAILED, STOPPED = "starting", "ready", "failed", "stopped"
_FRAME_RE = re.compile(r'\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')


# Google's deferred handler logs every task's X-AppEngine-* headers at INFO ("X_APPENGINE_QUEUENAME:
# default, ..."): a long line per task, shown on the console with --log-level debug only.
_HEADER_DUMP = re.compile(r"X_APPENGINE_(?:QUEUENAME|TASKNAME|TASKRETRYCOUNT):")


class ConsoleEcho:
    """An instance's output on gae-emu's console. Google's deferred handler's header dumps show only
    at debug. A traceback of an exception already shown (same last frame, same message) is left out
    when nothing else was printed since (the library and the server reporting one failure, a failing
    task's retries: gae-emu's line per attempt says each failed), else it becomes one short line.
    The instance's own `output` keeps every line."""

    MAX_BLOCK = 2000  # lines held while a traceback is read; a longer one is printed as it is

    def __init__(self, write: Callable[[str], None] = None) -> None:
        self.write = write or (lambda text: sys.stderr.write(text + "\n"))
        self._block: Optional[List[str]] = None
        self._seen: set = set()
        self._quiet = False  # the last thing written was a "same traceback" note
        self._last_key: Optional[tuple] = None  # the traceback last shown, while nothing else followed it

    def __call__(self, line: str) -> None:
        if not log.isEnabledFor(logging.ERROR):
            return  # --log-level critical: the console stays quiet (the admin console keeps the lines)
        debug = log.isEnabledFor(logging.DEBUG)
        if _HEADER_DUMP.search(line) and not debug:
            return
        if self._block is None:
            if line.rstrip().endswith("Traceback (most recent call last):"):
                self._block = [line]
            elif line.strip():
                self._quiet, self._last_key = False, None
                self.write(line)
            elif not self._quiet and self._last_key is None:
                self.write(line)
            return
        self._block.append(line)
        if line[:1].isspace() and len(self._block) < self.MAX_BLOCK:
            return  # a frame of the traceback
        block, self._block = self._block, None
        frames = [b for b in block if b.lstrip().startswith("File ")]
        key = (frames[-1].strip() if frames else "", line.strip())
        if key in self._seen and not debug:
            if not self._quiet and key != self._last_key:
                self.write(f"(the same traceback as before, not repeated: {line.strip()[:200]})")
                self._quiet = True
            return
        self._seen.add(key)
        self._quiet, self._last_key = False, key
        self.write("\n".join(block))

class InstanceUnavailable(Exception):
    """The service's instance cannot take the request (failed to start, or still starting)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _death_signal() -> Optional[Callable[[], None]]:
    """A pre-exec hook that makes Linux SIGTERM the instance if the emulator dies without stopping
    it (SIGKILL, a crash): instances must never outlive the emulator."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return hook


_PRE_EXEC = _death_signal()


def import_error_summary(lines: List[str]) -> str:
    """`file:line: Error: message` from the last traceback in an instance's output, else its last
    line. Read from the frames, not the `Traceback` header: only the last lines are kept, and a long
    traceback (gunicorn's worker importing the app) has lost its header by then; lines other programs
    print after it are skipped."""
    text = [line for line in lines if line.strip()]
    found, frame = "", ""
    for line in text:
        match = _FRAME_RE.match(line)
        if match:
            frame = f"{match.group('file')}:{match.group('line')}: "
        elif frame and not line[:1].isspace():  # the exception line ends the traceback
            found, frame = frame + line.strip(), ""
    return found or (text[-1].strip() if text else "")


@dataclass
class InstanceInfo:
    """What the admin console shows of an instance."""

    service: str
    pid: Optional[int]
    port: Optional[int]
    state: str
    started: Optional[float]
    requests: int
    restarts: int
    last_exit_code: Optional[int]
    last_output: List[str]
    reason: str
    command: List[str]


class Instance:
    """One service's instance process, its supervisor thread and its connection pool."""

    def __init__(self, service: str, root: Path, command_for: Callable[[int], InstanceCommand],
                 env: Dict[str, str], warmup: Optional[Callable[["Instance"], None]] = None,
                 request_timeout: float = 600.0, echo: Callable[[str], None] = None) -> None:
        self.service = service
        self.root = root
        self.command_for = command_for
        self.env = env
        self.warmup = warmup
        self.request_timeout = request_timeout
        self.echo = echo or ConsoleEcho()
        self.state = STOPPED
        self.reason = ""
        self.process: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.pool: Optional[ConnectionPool] = None
        self.started_at: Optional[float] = None
        self.requests = 0
        self.restarts = 0
        self.last_exit_code: Optional[int] = None
        self.output: Deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self.command: Tuple[str, ...] = ()
        self._ready = threading.Event()
        self._changed = threading.Condition()
        self._stopping = False
        self._restart_now = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._said: set = set()
        self._was_ready = False  # the last process served: its death is not a failure to start
        self._answered = False  # the running process has answered a request

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self.state = STARTING
        self._thread = threading.Thread(target=self._supervise, name=f"instance-{self.service}", daemon=True)
        self._thread.start()

    def restart(self) -> None:
        """Stop the running process and start a fresh one at once (reload, the console's button)."""
        self._restart_now.set()
        self._terminate()

    def stop(self) -> None:
        self._stopping = True
        self._restart_now.set()
        self._terminate()
        if self._thread is not None:
            self._thread.join(STOP_GRACE + 5)
        self.state = STOPPED

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def info(self) -> InstanceInfo:
        process = self.process
        return InstanceInfo(self.service, process.pid if process and process.poll() is None else None, self.port,
                            self.state, self.started_at, self.requests, self.restarts, self.last_exit_code,
                            list(self.output), self.reason, list(self.command))

    def _supervise(self) -> None:
        quick_deaths = 0
        while not self._stopping:
            self._restart_now.clear()
            code = self._run_once()
            if self._stopping:
                break
            asked = self._restart_now.is_set()
            if asked:
                quick_deaths = 0
                continue
            quick_deaths = 0 if self._was_ready else quick_deaths + 1
            if quick_deaths >= 2:
                self._set_state(FAILED)  # requests get the reason (503) instead of waiting
                pause = min(MAX_BACKOFF, 2.0 ** (quick_deaths - 2))
                log.error("instance of service %s keeps exiting; next start in %.0f s", self.service, pause)
                self._restart_now.wait(pause)
                if self._restart_now.is_set():
                    quick_deaths = 0
        self._set_state(STOPPED)

    def _run_once(self) -> Optional[int]:
        port = free_port()
        try:
            command = self.command_for(port)
        except EntrypointError as exc:
            self.reason = str(exc)
            self._set_state(FAILED)
            log.error("service %s: %s", self.service, exc)
            self._restart_now.wait()
            return None
        for note in command.notes:
            if note not in self._said:
                self._said.add(note)
                log.warning("service %s: %s", self.service, note)
        self.command = command.argv
        env = {**self.env, **command.env, "PORT": str(port)}
        self.output.clear()
        self.started_at = time.time()
        self._set_state(STARTING)
        try:
            process = subprocess.Popen(
                command.argv, cwd=str(self.root), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_PRE_EXEC,
            )
        except OSError as exc:
            self._was_ready = False
            self.reason = f"cannot start {command.argv[0]}: {exc.strerror or exc}"
            self._set_state(FAILED)
            log.error("service %s: %s", self.service, self.reason)
            return None
        self.process, self.port = process, port
        self._was_ready = self._answered = False
        ready_at = None
        reader = threading.Thread(target=self._pump, args=(process,), name=f"output-{self.service}", daemon=True)
        reader.start()
        if self._wait_for_port(process, port):
            self.pool = ConnectionPool(port, self.request_timeout)
            if self.warmup is not None:
                self.warmup(self)
            self.reason = ""
            ready_at = time.monotonic()
            self._set_state(READY)
            log.info("service %s: instance ready (pid %s, port %s, %.2f s)", self.service, process.pid, port,
                     time.time() - self.started_at)
        code = process.wait()
        self._was_ready = self._answered or (ready_at is not None and time.monotonic() - ready_at >= SETTLED_AFTER)
        # What the exit means is recorded before anything slow (the output drain), so a request or
        # the console asking now sees the instance as down and restarting, not as ready.
        self._ready.clear()
        self.last_exit_code = code
        asked = self._stopping or self._restart_now.is_set()
        if not asked:
            self.restarts += 1
            self._set_state(STARTING)  # started again at once; waiting requests keep waiting
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        reader.join(2)
        if asked:
            return code
        summary = import_error_summary(list(self.output))
        self.reason = f"the instance exited with code {code}" + (f": {summary}" if summary else "")
        tail = "\n".join(list(self.output)[-10:])
        log.error("service %s: instance (pid %s) exited with code %s; last output:\n%s", self.service,
                  process.pid, code, tail or "(none)")
        return code

    def _wait_for_port(self, process: subprocess.Popen, port: int) -> bool:
        while process.poll() is None and not self._stopping:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def _pump(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.output.append(line)
            try:
                self.echo(line)
            except Exception:  # a closed console must not stop the instance
                pass

    def _terminate(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    def _set_state(self, state: str) -> None:
        with self._changed:
            self.state = state
            if state == READY:
                self._ready.set()
            self._changed.notify_all()

    # -- requests ---------------------------------------------------------------------------------

    def forward(self, environ: dict, wait: bool = True) -> Tuple[str, list, bytes]:
        """Send a routed request to the instance; InstanceUnavailable or InstanceGone if it cannot."""
        method, target, headers, body = request_parts(environ)
        self.requests += 1
        for attempt in (1, 2):
            if wait:
                self._wait_usable()
            pool = self.pool
            if pool is None:
                raise InstanceUnavailable(self.reason or "the instance is not running")
            try:
                answer = pool.send(method, target, headers, body)
                self._answered = True
                return answer
            except InstanceRefused:
                if attempt == 2 or not wait:
                    raise
                # The process died before this request reached it (its port is closed): once the
                # supervisor has seen the exit, the restarted instance takes the request.
                deadline = time.monotonic() + STOP_GRACE
                while self.pool is pool and time.monotonic() < deadline:
                    time.sleep(0.01)
        raise AssertionError("unreachable")

    def _wait_usable(self) -> None:
        if self._ready.is_set():
            return
        deadline = time.monotonic() + START_TIMEOUT
        with self._changed:
            while self.state != READY:
                if self.state in (FAILED, STOPPED):
                    raise InstanceUnavailable(self.reason or f"the instance is {self.state}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InstanceUnavailable(f"the instance did not start within {START_TIMEOUT:.0f} s")
                self._changed.wait(min(left, 0.5))
