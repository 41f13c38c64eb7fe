"""Google's dev_appserver.py (the Cloud SDK's local App Engine server) as a side-by-side peer of the
python3 path: rows P1, P3, P4 and P5 on the same app (bench/app_std) through the same helpers
(bench/run.py's drain and latency), in the same run. Users run dev_appserver today; this is the
figure to beat.

Never a dependency: when gcloud, the SDK's dev_appserver.py or a clean Python venv is missing, or
dev_appserver fails to start, `measure` returns {"error": why} and the table shows "n/a (why)".

How it is run (each choice, and why):
- with a clean virtualenv's python (`python3 -m venv`, cached in the temp folder between runs),
  not ours, so that none of gae-emu's packages (Google's library among them) shadow the SDK's own;
- on a copy of the app in a temp folder with these dev_appserver-only changes (gae-emu's own
  measurement is untouched):
  - the entrypoint binds 127.0.0.1 (`-b :$PORT` would listen on every interface);
  - queue.yaml gives the default queue the largest rate production allows (500/s, bucket 500):
    dev_appserver enforces queue rates and the default queue's 5/s would measure the rate limit
    (gae-emu enforces rates only with --enforce-queue-rates);
- `--threadsafe_override true`: without it a python3 instance takes one request at a time and
  the bench's blocking /wait holds back every task; `--max_module_instances 1`: the app counts runs
  in memory, so every request must reach the one instance; `--automatic_restart no`: its file
  watcher restarts the instance when `__pycache__` appears;
- free loopback ports (--port, --admin_port, --api_port), `--storage_path` in a temp folder,
  `--skip_sdk_update_check`, its output in a log file, and its whole process group stopped at the
  end (it starts gunicorn instances of its own).

dev_appserver builds a virtualenv for the app's requirements.txt at every start (`python -m venv`,
then pip; downloads come from pip's cache after the first run). The start-up figure excludes that
build: from the moment its virtualenv folder appears to the log line 'Starting module "default"',
which dev_appserver writes once the instance factory (and its virtualenv) is ready.

Imports: the standard library and this package.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.emu import answers_200, get_json
from bench.python3_path import APP_STD, SAMPLE_STD, app_std_figures

CACHE = Path(tempfile.gettempdir()) / "gae-emu-bench-dev_appserver"
QUEUE_YAML = "queue:\n- name: default\n  rate: 500/s\n  bucket_size: 500\n"
STARTED_LINE = re.compile(r"^INFO\s+(\S+ \S+) dispatcher\.py:\d+\] Starting module \"default\"", re.M)


def dev_appserver_script() -> Path:
    """The SDK's dev_appserver.py next to `gcloud`; raises RuntimeError saying why not."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise RuntimeError("gcloud is not on PATH")
    sdk = Path(os.path.realpath(gcloud)).parent.parent
    script = sdk / "platform" / "google_appengine" / "dev_appserver.py"
    if not script.exists():
        raise RuntimeError("the Cloud SDK has no app-engine-python component (dev_appserver.py)")
    return script


def reference_python() -> Path:
    """A clean virtualenv's python from the base interpreter (not ours), kept in the temp folder."""
    python = CACHE / "ref-venv" / "bin" / "python"
    if not python.exists():
        base = getattr(sys, "_base_executable", None) or shutil.which("python3") or "python3"
        subprocess.run([base, "-m", "venv", "--clear", str(python.parent.parent)], check=True,
                       capture_output=True, timeout=120)
    return python


def clean_env() -> Dict[str, str]:
    """Our environment without this virtualenv (its bin folder on PATH would become the app's python)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    ours = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    return env


def app_copy(src: Path, dest: Path) -> Path:
    """`src` copied to `dest` with a loopback entrypoint, gunicorn in requirements.txt when the
    entrypoint runs it (dev_appserver, like App Engine, adds it only for the default entrypoint; gae-emu
    runs the app in its own interpreter), and (if it has none) the fast queue.yaml."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    yaml = dest / "app.yaml"
    text = re.sub(r"(?m)^(entrypoint:.*?-b\s+):", r"\g<1>127.0.0.1:", yaml.read_text())
    yaml.write_text(text)
    requirements = dest / "requirements.txt"
    wanted = requirements.read_text() if requirements.exists() else ""
    if re.search(r"(?m)^entrypoint:\s*gunicorn", text) and not re.search(r"(?m)^gunicorn", wanted):
        requirements.write_text(wanted.rstrip("\n") + "\ngunicorn\n")
    if not (dest / "queue.yaml").exists():
        (dest / "queue.yaml").write_text(QUEUE_YAML)
    return dest


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevAppserver:
    """dev_appserver.py on a copy of `app`, stopped by `stop()` (or the with-block). Its `get` is
    bench/emu.py's Server's, so bench/run.py's drain and latency drive it unchanged."""

    def __init__(self, app: Path, startup_timeout: float = 300.0) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="gae-emu-bench-dev_appserver-"))
        self.venvs = self.tmp / "venvs"
        self.log_path = self.tmp / "dev_appserver.log"
        copy = app_copy(app, self.tmp / app.name)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.command = [
            str(reference_python()), str(dev_appserver_script()), str(copy / "app.yaml"),
            "--host", "127.0.0.1", "--port", str(port), "--admin_host", "127.0.0.1",
            "--admin_port", str(free_port()), "--api_host", "127.0.0.1", "--api_port", str(free_port()),
            "--storage_path", str(self.tmp / "storage"), "--python_virtualenv_path", str(self.venvs),
            "--runtime_python_path", getattr(sys, "_base_executable", None) or "python3",
            "--skip_sdk_update_check", "--threadsafe_override", "true", "--max_module_instances", "1",
            "--automatic_restart", "no", "--log_level", "warning", "--dev_appserver_log_level", "info"]
        self._log = open(self.log_path, "w")
        self.started_wall, self.started = time.time(), time.perf_counter()
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.tmp,
                                        env=clean_env(), start_new_session=True)
        self.venv_seen: Optional[float] = None  # wall clock when its virtualenv folder appeared
        self.startup_timeout = startup_timeout

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(line[-300:] for line in text.splitlines()[-lines:])

    def wait_for_200(self, path: str = "/") -> float:
        """Seconds from process start to the first 200 on `path`, noting when the venv build began."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.venv_seen is None and (self.venvs / "default").exists():
                self.venv_seen = time.time()
            if self.process.poll() is not None:
                raise RuntimeError(f"dev_appserver exited with {self.process.returncode}:\n{self.tail()}")
            if "Cannot connect to the instance" in self.log_path.read_text(errors="replace"):
                raise RuntimeError(f"dev_appserver's instance did not start:\n{self.tail()}")
            if answers_200(self.url + path):
                return time.perf_counter() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"dev_appserver: {path} never answered 200 within {self.startup_timeout:.0f} s\n{self.tail()}")

    def venv_build_seconds(self) -> Optional[float]:
        """From its virtualenv folder appearing to its 'Starting module' line (the build it does per start)."""
        match = STARTED_LINE.search(self.log_path.read_text(errors="replace"))
        if not match or self.venv_seen is None:
            return None
        logged = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        return max(0.0, logged - self.venv_seen)

    def get(self, path: str, timeout: float = 120.0) -> Any:
        return get_json(self.url + path, timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to its process group (dev_appserver, its API server, the gunicorn instances), then SIGKILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout)
                deadline = time.monotonic() + timeout  # its children may outlive it briefly
                while time.monotonic() < deadline:
                    os.killpg(self.process.pid, 0)
                    time.sleep(0.1)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                continue
        self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "DevAppserver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def version() -> str:
    try:
        text = (dev_appserver_script().parent.parent.parent / "VERSION").read_text().strip()
        return f"Cloud SDK {text}"
    except (OSError, RuntimeError):
        return "unknown"


def measure(args: argparse.Namespace, h: Any) -> Dict[str, Any]:
    """dev_appserver's P1, P3, P4 and P5 figures, or {"error": why}; `h` is bench/run.py."""
    out: Dict[str, Any] = {"version": version()}
    try:
        dev_appserver_script()
        with DevAppserver(APP_STD) as server:
            out.update(app_std_figures(server, args, h))
        sample = SAMPLE_STD if (SAMPLE_STD / "app.yaml").exists() else APP_STD
        out["startup_app"] = sample.name + "/"
        out["startup"], out["venv_build"] = [], []
        for _ in range(args.startup_tries):
            with DevAppserver(sample) as server:
                total = server.wait_for_200("/")
                build = server.venv_build_seconds()
                if build is None:
                    raise RuntimeError("could not time its virtualenv build (no 'Starting module' line)")
                out["startup"].append(total - build)
                out["venv_build"].append(build)
    except (OSError, RuntimeError, ValueError, KeyError, subprocess.SubprocessError, urllib.error.URLError) as exc:
        why = str(exc).strip().splitlines()
        h.say("dev_appserver: " + "\n".join(why[-15:]))
        out = {"error": (why[0] if why else type(exc).__name__)[:80]}
    return out


def columns(dev: Optional[Dict[str, Any]], ours: Optional[float], theirs_key: str, h: Any,
            lower_is_better: bool = False, unit: str = "", digits: int = 0, also: str = "") -> List[str]:
    """The dev_appserver cell and the gae-emu/dev_appserver cell of one row ("n/a (why)" on failure);
    `also` names a second figure shown after a slash (p99 after p50), not in the ratio."""
    if dev is None:
        return ["", ""]
    if "error" in dev:  # the reason once, in the first row
        return [f"n/a ({dev['error']})" if theirs_key == "throughput" else "n/a", ""]
    theirs = figure(dev, theirs_key, h)
    cell = h.fmt(theirs, unit, digits) + (f" / {h.fmt(figure(dev, also, h), unit, digits)}" if also else "")
    return [cell, h.ratio(ours, theirs, lower_is_better)]


def figure(dev: Dict[str, Any], key: str, h: Any) -> Optional[float]:
    """One of dev_appserver's figures by the name the python3 rows use."""
    if key in ("throughput", "enqueue_rate"):
        return h.median([d[key] for d in dev["drains"]])
    if key in ("lat50", "lat99"):
        return h.percentile(dev["latency"]["values"], 50 if key == "lat50" else 99)
    if key in ("memcache", "ndb", "memcache99", "ndb99"):
        return h.percentile(dev["rpc"][key.rstrip("9")], 99 if key.endswith("99") else 50)
    if key == "startup":
        return h.median(dev["startup"])
    raise KeyError(key)


def details(dev: Dict[str, Any], h: Any) -> str:
    if "error" in dev:
        return f"- dev_appserver: n/a ({dev['error']})"
    return "\n".join([
        f"- dev_appserver ({dev['version']}): drains " + ", ".join(h.fmt(d["throughput"]) for d in dev["drains"])
        + f"; latency timeouts {dev['latency']['timeouts']}",
        f"- dev_appserver start-up of {dev['startup_app']} to the first 200, its per-start virtualenv build "
        "excluded: " + ", ".join(h.fmt(v, "s") for v in dev["startup"]) + "; the builds it did first: "
        + ", ".join(h.fmt(v, "s") for v in dev["venv_build"]),
        "- dev_appserver settings: its app copies bind 127.0.0.1; bench/app_std's copy gives the default queue rate 500/s, "
        "bucket 500 (production's largest; its 5/s default would be the bottleneck); --threadsafe_override "
        "true, --max_module_instances 1, --automatic_restart no",
    ])
