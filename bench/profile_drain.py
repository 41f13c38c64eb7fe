"""Profile the drain path of a real `gae-emu dev`: py-spy attached to the server when it can be,
else cProfile inside the server through `bench/cprofile_server.py` (an env-var hook that lives here,
so nothing in gae_emu/ knows about profiling).

    python -m bench.profile_drain [--n 20000] [--tool py-spy|cprofile]

Prints the hottest functions by own time and by inclusive time over the drain (enqueue + dispatch),
restricted to threads that were busy.

Imports: the standard library and `bench.emu`.
"""
from __future__ import annotations

import argparse
import collections
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.emu import Server  # noqa: E402

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SITE = re.compile(r".*/(site-packages|dist-packages|lib/python3\.\d+)/")


def py_spy() -> Optional[str]:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if os.path.exists(found) else None


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    path = SITE.sub("", path)
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    path = path.replace(repo, "")
    return f"{match.group('func')} ({path})"


def summarize_collapsed(text: str, top: int = 15) -> str:
    """Own and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    own: Dict[str, int] = collections.Counter()
    inclusive: Dict[str, int] = collections.Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [short(f) for f in stack.split(";") if f and not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    return _tables(own, inclusive, total, top, "samples")


def _tables(own: Dict[str, float], inclusive: Dict[str, float], total: float, top: int, unit: str) -> str:
    lines = [f"Busy {unit}: {total:,.0f}", "", "Top by own time:", ""]
    lines += ["| own % | function |", "|---:|---|"]
    for func, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {100.0 * n / total:5.1f} | `{func}` |")
    lines += ["", "Top by inclusive time (gae_emu, handlers, werkzeug, sqlite, logging, pickle):", ""]
    lines += ["| incl % | function |", "|---:|---|"]
    interesting = ("gae_emu", "werkzeug", "sqlite", "logging", "pickle", "handlers/", "json")
    ranked = [(f, n) for f, n in inclusive.items() if any(k in f for k in interesting)]
    for func, n in sorted(ranked, key=lambda kv: -kv[1])[: top + 10]:
        lines.append(f"| {100.0 * n / total:5.1f} | `{func}` |")
    return "\n".join(lines)


def summarize_pstats(path: str, top: int = 15) -> str:
    stats = pstats.Stats(path)
    own: Dict[str, float] = {}
    inclusive: Dict[str, float] = {}
    total = 0.0
    for (file, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = short(f"{func} ({file}:{line})")
        own[name] = own.get(name, 0.0) + tt
        inclusive[name] = max(inclusive.get(name, 0.0), ct)
        total += tt
    return _tables(own, inclusive, total, top, "CPU seconds (cProfile, all threads; waits included)")


def drive(server: Server, n: int, timeout: float) -> Tuple[float, float]:
    server.wait_for_200()
    server.get("/reset")
    enq = server.get(f"/defer?n={n}&base=0", timeout=timeout)
    done = server.get(f"/wait?count={n}&timeout={timeout}", timeout=timeout + 10)
    if done["total"] < n:
        raise RuntimeError(f"profiled drain did not finish: {done['total']} of {n} ran")
    return done["last"] - enq["start"], n / (done["last"] - enq["start"])


def profile_with_py_spy(n: int, timeout: float) -> Optional[str]:
    tool = py_spy()
    if tool is None:
        return None
    tmp = tempfile.mkdtemp(prefix="gae-emu-bench-pyspy-")
    out = os.path.join(tmp, "drain.txt")
    try:
        with Server() as server:
            server.wait_for_200()
            spy = subprocess.Popen([tool, "record", "--pid", str(server.process.pid), "--format", "raw", "--rate", "250",
                                    "--gil", "--nonblocking",
                                    "--duration", str(int(timeout) + 30), "--output", out],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(1.0)
            if spy.poll() is not None:
                return None  # attaching is not allowed here (ptrace); cProfile instead
            try:
                seconds, rate = drive(server, n, timeout)
            finally:
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(30)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
        if not os.path.exists(out):
            return None
        head = (f"py-spy (250 Hz, --gil: samples of the thread holding the GIL, i.e. Python CPU time) on `gae-emu dev bench/app` while app code deferred {n:,} "
                f"tasks and the dispatcher drained them: {seconds:.2f} s, {rate:,.0f} tasks/s under the profiler.")
        return head + "\n\n" + summarize_collapsed(Path(out).read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile_with_cprofile(n: int, timeout: float) -> str:
    tmp = tempfile.mkdtemp(prefix="gae-emu-bench-cprofile-")
    out = os.path.join(tmp, "drain.pstats")
    wrapper = [sys.executable, str(Path(__file__).resolve().parent / "cprofile_server.py")]
    try:
        server = Server(command=wrapper, env={"GAE_EMU_BENCH_CPROFILE": out})
        try:
            seconds, rate = drive(server, n, timeout)
        finally:
            server.stop()
        head = (f"cProfile (every thread) on `gae-emu dev bench/app` while app code deferred {n:,} tasks and the "
                f"dispatcher drained them: {seconds:.2f} s, {rate:,.0f} tasks/s under the profiler.")
        return head + "\n\n" + summarize_pstats(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile_drain(n: int = 20000, timeout: float = 120.0, tool: str = "auto") -> str:
    text = None
    if tool in ("auto", "py-spy"):
        text = profile_with_py_spy(n, timeout)
    if text is None:
        text = profile_with_cprofile(n, timeout)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--tool", choices=["auto", "py-spy", "cprofile"], default="auto")
    args = parser.parse_args()
    print(profile_drain(args.n, args.timeout, args.tool))
