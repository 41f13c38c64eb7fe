"""Starting and talking to a real `gae-emu dev` for the benchmark: one subprocess on free loopback
ports with a fresh storage folder, its stdout in a log file (a pipe the harness forgot to drain
would slow the server down), a JSON client for the bench app, and its memory from /proc.

Imports: the standard library only.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

BANNER = re.compile(r"^gae-emu: service (?P<service>\S+) at (?P<url>http://\S+)$", re.M)
ADMIN_BANNER = re.compile(r"^gae-emu: admin console at (?P<url>http://\S+)$", re.M)
BENCH_APP = Path(__file__).resolve().parent / "app"


def gae_emu_command() -> List[str]:
    """The installed console script next to this interpreter, else `python -m gae_emu`."""
    script = Path(sys.executable).parent / "gae-emu"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gae_emu"]


def answers_200(url: str) -> bool:
    """Whether `url` answers 200 now (False for any error: the server may still be starting)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def get_json(url: str, timeout: float = 120.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


class Server:
    """`gae-emu dev APP --port 0 --admin-port 0 [args]`, stopped by `stop()` (or the with-block).

    `command` replaces the `gae-emu` executable (the cProfile wrapper); `prefix` goes before it."""

    def __init__(self, app: Path = BENCH_APP, args: Sequence[str] = ("--no-reload",), prefix: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None, startup_timeout: float = 30.0,
                 command: Optional[Sequence[str]] = None) -> None:
        self.tmp = tempfile.mkdtemp(prefix="gae-emu-bench-")
        self.log_path = Path(self.tmp) / "server.log"
        self.command = list(prefix) + list(command or gae_emu_command()) + [
            "dev", str(app), "--port", "0", "--admin-port", "0", "--storage-path", str(Path(self.tmp) / "storage"),
            "--clear-datastore", *args]
        self.started = time.perf_counter()
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
        self.url = self._wait_for_banner(startup_timeout)

    def _wait_for_banner(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            match = BANNER.search(text)
            admin = ADMIN_BANNER.search(text)
            if match and admin:
                self.admin_url = admin.group("url")
                return match.group("url")
            if self.process.poll() is not None:
                break
            time.sleep(0.002)
        self.stop()
        raise RuntimeError(f"gae-emu dev did not start: {' '.join(self.command)}\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_for_200(self, path: str = "/", timeout: float = 30.0) -> float:
        """Seconds from process start until `path` answered 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answers_200(self.url + path):
                return time.perf_counter() - self.started
            time.sleep(0.002)
        raise RuntimeError(f"{self.url}{path} never answered 200 within {timeout}s\n{self.tail()}")

    def get(self, path: str, timeout: float = 120.0) -> Any:
        return get_json(self.url + path, timeout)

    def instance_pids(self) -> Dict[str, int]:
        """service -> pid of its instance process (python3 services), from the admin JSON API."""
        with urllib.request.urlopen(self.admin_url + "/api/instances", timeout=30) as resp:
            return {i["service"]: i["pid"] for i in json.loads(resp.read())["instances"] if i["pid"]}

    def memory_kb(self, pid: Optional[int] = None) -> Dict[str, Optional[int]]:
        """VmRSS and VmHWM (peak RSS) of the server process, or of `pid` (Linux; None elsewhere)."""
        result: Dict[str, Optional[int]] = {"VmRSS": None, "VmHWM": None}
        try:
            with open(f"/proc/{pid or self.process.pid}/status") as f:
                for line in f:
                    key = line.split(":", 1)[0]
                    if key in result:
                        result[key] = int(line.split()[1])
        except OSError:
            pass
        return result

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
