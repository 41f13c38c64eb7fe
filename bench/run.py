"""gae-emu benchmarks against peer task queues, in one run: prints a table and writes bench/RESULTS.md.

    python -m bench.run            (from the repository root; or: python bench/run.py)
    python -m bench.run --quick    (smaller N and fewer tries: a smoke run, about a minute)
    python -m bench.run --profile  (also profile the drain path with py-spy, else cProfile)

What is measured (issue 6, plus issue 3's dispatch figures), each through the real `gae-emu dev`
(default settings, plus `--no-reload` and free loopback ports) running the app in `bench/app/`:

1. drain throughput: app code defers N no-op tasks while the dispatcher runs; first enqueue to last
   task executed; every task must have run exactly once (checked, and shown in the table).
2. enqueue rate: `deferred.defer` calls/s from app code, dispatcher paused
   (`--no-enable-task-running`) and during the drain.
3. latency: idle server, defer one task, time until it ran (measured inside the server);
   p50/p99 over `--tries` tries with random idle gaps.
4. start-up of `gae-emu dev sample_app/` to the first 200; peak RSS (VmHWM) idle and after drain.
5. scale: drain throughput with 100,000 far-future tasks queued vs the empty queue (a second
   server, drained in turn with the backlog one, so both see the same machine); router cost per
   request for 100 handlers vs 3 (in-process).
6. peers, same workload, same run: Huey (SqliteHuey, 2 threads), Dramatiq (Redis on loopback,
   started and stopped here, prefetch 64); ratios gae-emu / peer.
7. issue 3: dispatch throughput (N tasks all due at one eta, eta to last run) and eta precision
   of countdown tasks (run time minus eta: p50/p99/max).
8. issue 13, rows P1-P6: the python3 path (bench/python3_path.py): an app on Google's library in
   its instance process, every defer an RPC to the API server; skipped with a note when the
   library is not installed (`--skip-python3` skips it too). Google's dev_appserver.py from the Cloud
   SDK runs the same app beside it as a peer of P1 and P3-P5 (bench/dev_appserver_peer.py); its
   column reads "n/a (why)" when it is absent or fails (`--skip-dev-appserver` skips it).

Every loop is bounded in count and time; all traffic is loopback; every process started here is
stopped here. Machines are shared and noisy: compare the ratios, not the absolute numbers.

Imports: the standard library and this package; peers run in subprocesses (`bench/peers.py`).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pickle
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.emu import BENCH_APP, Server  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEER_PACKAGES = ("huey", "dramatiq", "redis")
INSTALL_HINT = (
    "install the bench extra and Redis, then run again:\n"
    "    pip install -e '.[bench]'          # huey, dramatiq[redis], redis (py-spy is optional, for --profile)\n"
    "    apt-get install -y redis-server    # Debian/Ubuntu; the benchmark starts and stops its own instance\n"
    "or skip the peers with --skip-peers"
)


# -- small helpers ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1)))))
    return ordered[k]


def median(values: Sequence[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def missing_dependencies() -> List[str]:
    missing = [name for name in PEER_PACKAGES if importlib.util.find_spec(name) is None]
    if shutil.which("redis-server") is None:
        missing.append("redis-server (Debian package redis-server)")
    return missing


# -- gae-emu measurements --------------------------------------------------------------------------


def drain(server: Server, n: int, base: int, timeout: float) -> Dict[str, Any]:
    """Defer n no-op tasks from app code with the dispatcher running; wait until all ran; check."""
    server.get("/reset")
    enq = server.get(f"/defer?n={n}&base={base}", timeout=timeout)
    done = server.get(f"/wait?count={n}&timeout={timeout}", timeout=timeout + 10)
    time.sleep(0.2)  # a late duplicate would show up here
    check = server.get(f"/check?base={base}&n={n}")
    finished = done["total"] >= n
    seconds = done["last"] - enq["start"] if done["last"] else None
    return {
        "n": n, "finished": finished, "seconds": seconds,
        "throughput": n / seconds if finished and seconds else None,
        "enqueue_rate": n / max(enq["end"] - enq["start"], 1e-9),
        "missing": check["missing"], "duplicated": check["duplicated"], "total_runs": check["total"],
    }


def exactly_once(drains: Sequence[Dict[str, Any]]) -> bool:
    return all(d["finished"] and d["missing"] == 0 and d["duplicated"] == 0 and d["total_runs"] == d["n"]
               for d in drains)


def latency(server: Server, tries: int, max_gap: float, seed: int) -> Dict[str, Any]:
    rng = random.Random(seed)
    server.get("/reset")
    values, lost = [], 0
    for k in range(tries):
        time.sleep(rng.uniform(0.0, max_gap))
        answer = server.get(f"/latency?id={10 ** 9 + k}&timeout=10", timeout=30)
        if answer["latency"] is None:
            lost += 1
        else:
            values.append(answer["latency"])
    return {"values": values, "timeouts": lost}


def dispatch_burst(server: Server, n: int, timeout: float) -> Dict[str, Any]:
    """Issue 3: n tasks all due at one eta (enqueued before it); eta to the last run."""
    server.get("/reset")
    burst = server.get(f"/burst?n={n}&base=0&delay=1.5", timeout=timeout)
    done = server.get(f"/wait?count={n}&timeout={timeout}", timeout=timeout + 10)
    check = server.get(f"/check?base=0&n={n}")
    ok = done["total"] >= n and check["missing"] == 0 and check["duplicated"] == 0
    seconds = done["last"] - burst["eta"] if done["last"] else None
    return {"n": n, "ok": ok, "seconds": seconds, "throughput": n / seconds if ok and seconds else None,
            "enqueued_before_eta": burst["enqueued_by"] <= burst["eta"],
            "first_late": (done["first"] - burst["eta"]) if done["first"] else None}


def eta_precision(server: Server, n: int, timeout: float) -> Dict[str, Any]:
    server.get("/reset")
    server.get(f"/eta?n={n}&base=0&min=0.05&max=2.0&seed=3")
    server.get(f"/wait?count={n}&timeout={timeout}", timeout=timeout + 10)
    result = server.get(f"/eta_result?base=0&n={n}")
    return result


def enqueue_paused(app: Path, args: argparse.Namespace) -> List[float]:
    """Defers/s from app code with the dispatcher paused, one figure per repeat."""
    with Server(app=app, args=("--no-reload", "--no-enable-task-running")) as server:
        server.wait_for_200()
        rates = []
        for r in range(args.repeat):
            enq = server.get(f"/defer?n={args.n}&base={r * args.n}", timeout=args.timeout)
            rates.append(args.n / max(enq["end"] - enq["start"], 1e-9))
        return rates


def backlog_drains(app: Path, args: argparse.Namespace, pairs: int) -> Dict[str, Any]:
    """Drains of a server holding `args.backlog` far-future tasks, each paired with one of an empty
    server beside it. Drained in turn (empty, backlog, backlog, empty, ...), so the ratio compares
    drains seconds apart, not minutes apart, on a machine whose speed drifts."""
    out: Dict[str, Any] = {"backlog_drains": [], "paired_drains": []}
    with Server(app=app) as empty, Server(app=app) as server:
        empty.wait_for_200()
        server.wait_for_200()
        added, chunk = 0, 10000
        deadline = time.monotonic() + max(args.timeout, 300)
        while added < args.backlog and time.monotonic() < deadline:
            step = min(chunk, args.backlog - added)
            server.get(f"/backlog?n={step}&base={-(10 ** 9) - added}", timeout=args.timeout)
            added += step
        out["backlog_size"] = added
        for r in range(pairs):
            pair = [(empty, out["paired_drains"]), (server, out["backlog_drains"])]
            for target, results in (pair if r % 2 == 0 else pair[::-1]):  # neither always goes first
                results.append(drain(target, args.n, r * args.n, args.timeout))
    return out


def measure_gae_emu(args: argparse.Namespace) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    say("gae-emu: drain, latency, dispatch and eta precision (default settings)")
    with Server() as server:
        server.wait_for_200()
        time.sleep(0.5)
        out["rss_idle"] = server.memory_kb()
        out["drains"] = [drain(server, args.n, r * args.n, args.timeout) for r in range(args.repeat)]
        out["rss_after_drain"] = server.memory_kb()
        time.sleep(0.3)
        out["latency"] = latency(server, args.tries, args.max_gap, args.seed)
        out["burst"] = [dispatch_burst(server, args.n, args.timeout) for _ in range(args.repeat)]
        out["eta"] = eta_precision(server, args.eta_tasks, args.timeout)
        out["rss_end"] = server.memory_kb()
    say("gae-emu: enqueue rate with the dispatcher paused")
    out["enqueue_paused"] = enqueue_paused(BENCH_APP, args)
    say(f"gae-emu: drain with {args.backlog:,} far-future tasks queued, alternating with an empty queue")
    out.update(backlog_drains(BENCH_APP, args, pairs=max(args.repeat, 5)))  # single drains swing by a fifth
    out["startup"] = measure_startup(args)
    say("gae-emu: router cost, 3 vs 100 handlers")
    from bench.router_cost import compare

    out["router"] = compare(requests=args.router_requests)
    return out


def measure_startup(args: argparse.Namespace) -> Dict[str, Any]:
    sample = REPO / "sample_app"
    app = sample if (sample / "app.yaml").exists() else BENCH_APP
    say(f"gae-emu: start-up of `gae-emu dev {app.relative_to(REPO)}/` to the first 200")
    result: Dict[str, Any] = {"app": str(app.relative_to(REPO)) + "/"}
    for label, extra in (("reload", ()), ("no_reload", ("--no-reload",))):
        times = []
        for _ in range(args.startup_tries):
            with Server(app=app, args=extra) as server:
                times.append(server.wait_for_200("/"))
        result[label] = times
    return result


# -- the ceiling and the peers ---------------------------------------------------------------------


def noop_for_ceiling(i: int) -> None:
    pass


def ceiling(n: int) -> Dict[str, float]:
    """The bare loop issue 6 calls our ceiling: pickle, insert into SQLite (WAL, synchronous=NORMAL),
    read back, unpickle and call, one task at a time; and one task's round trip."""
    with tempfile.TemporaryDirectory(prefix="gae-emu-bench-ceiling-") as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "c.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")

        def one(i: int) -> None:
            conn.execute("INSERT INTO t (id, payload) VALUES (?, ?)",
                         (i, pickle.dumps((noop_for_ceiling, (i,), {}), pickle.HIGHEST_PROTOCOL)))
            row = conn.execute("SELECT id, payload FROM t WHERE id = ?", (i,)).fetchone()
            fn, fargs, fkw = pickle.loads(row[1])
            fn(*fargs, **fkw)
            conn.execute("DELETE FROM t WHERE id = ?", (row[0],))

        start = time.perf_counter()
        for i in range(n):
            one(i)
        seconds = time.perf_counter() - start
        conn.close()
    return {"throughput": n / seconds, "latency": seconds / n}


class Redis:
    """redis-server on a free loopback port, no persistence; stopped by `stop()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.split("v=")[1].split()[0] if "v=" in out else out.strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_peer(peer: str, args: argparse.Namespace, extra: Sequence[str] = ()) -> Dict[str, Any]:
    command = [sys.executable, str(BENCH_DIR / "peers.py"), peer, "--n", str(args.n), "--repeat", str(args.repeat),
               "--tries", str(args.tries), "--max-gap", str(args.max_gap), "--seed", str(args.seed),
               "--timeout", str(args.timeout), *extra]
    budget = args.timeout * (args.repeat + 2) + args.tries * (args.max_gap + 15) + 60
    proc = subprocess.run(command, capture_output=True, text=True, timeout=budget)
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} benchmark failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_peers(args: argparse.Namespace) -> Dict[str, Any]:
    peers: Dict[str, Any] = {}
    say("peer: Huey (SqliteHuey, 2 worker threads)")
    peers["huey"] = run_peer("huey", args)
    say("peer: Dramatiq (Redis on loopback, prefetch 64)")
    redis = Redis()
    try:
        peers["dramatiq"] = run_peer("dramatiq", args, ["--redis-port", str(redis.port)])
        peers["redis_version"] = redis.version()
    finally:
        redis.stop()
    return peers


# -- the table -------------------------------------------------------------------------------------


def fmt(value: Optional[float], unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value * 1000:.{max(digits, 2)}f} ms"
    if unit == "s":
        return f"{value:.{max(digits, 2)}f} s"
    if unit == "MB":
        return f"{value / 1024:.1f} MB"
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def ratio(ours: Optional[float], theirs: Optional[float], lower_is_better: bool = False) -> str:
    if not ours or not theirs:
        return ""
    r = ours / theirs
    return f"{r:.2f}×" + (" (lower is better)" if lower_is_better else "")


def build_rows(g: Dict[str, Any], peers: Dict[str, Any], ceil: Dict[str, float], args: argparse.Namespace) -> List[List[str]]:
    huey, dram = peers.get("huey"), peers.get("dramatiq")

    def peer_drain(p: Optional[Dict[str, Any]]) -> Optional[float]:
        return median([d["throughput"] for d in p["drains"]]) if p else None

    def peer_enqueue(p: Optional[Dict[str, Any]]) -> Optional[float]:
        return median([d["enqueue_rate"] for d in p["drains"]]) if p else None

    def peer_once(p: Optional[Dict[str, Any]]) -> str:
        return ("yes" if exactly_once(p["drains"]) else "NO") if p else "n/a"

    def peer_lat(p: Optional[Dict[str, Any]], q: float) -> Optional[float]:
        return percentile(p["latencies"], q) if p else None

    drain_tp = median([d["throughput"] for d in g["drains"]])
    backlog_tp = median([d["throughput"] for d in g["backlog_drains"]])
    paired_tp = median([d["throughput"] for d in g["paired_drains"]])
    enq_paused = median(g["enqueue_paused"])
    enq_drain = median([d["enqueue_rate"] for d in g["drains"]])
    lat = g["latency"]["values"]
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    eta = g["eta"]["lateness"]
    burst_tp = median([b["throughput"] for b in g["burst"]])
    startup = g["startup"]
    r3, r100 = g["router"]["3"], g["router"]["100"]
    once = "yes" if all(exactly_once(g[k]) for k in ("drains", "backlog_drains", "paired_drains")) else "NO"
    n = args.n
    rows = [
        ["Measurement", "gae-emu", "Huey", "Dramatiq", "gae-emu/Huey", "gae-emu/Dramatiq", "Target"],
        [f"1. Drain throughput, N={n:,} (tasks/s, median of {args.repeat})", fmt(drain_tp), fmt(peer_drain(huey)),
         fmt(peer_drain(dram)), ratio(drain_tp, peer_drain(huey)), ratio(drain_tp, peer_drain(dram)),
         "≥3× Huey, ≥1.5× Dramatiq"],
        ["   every task ran exactly once", once, peer_once(huey), peer_once(dram), "", "", "yes"],
        ["2. Enqueue rate, dispatcher paused (defer/s)", fmt(enq_paused), "", "", "", "", "≥20,000/s"],
        ["   enqueue rate during the drain (defer/s)", fmt(enq_drain), fmt(peer_enqueue(huey)), fmt(peer_enqueue(dram)),
         ratio(enq_drain, peer_enqueue(huey)), ratio(enq_drain, peer_enqueue(dram)), ""],
        [f"3. Latency p50, idle, {len(lat)} tries", fmt(p50, "ms"), fmt(peer_lat(huey, 50), "ms"),
         fmt(peer_lat(dram, 50), "ms"), ratio(p50, peer_lat(huey, 50), True), ratio(p50, peer_lat(dram, 50), True),
         "<2 ms"],
        ["   latency p99", fmt(p99, "ms"), fmt(peer_lat(huey, 99), "ms"), fmt(peer_lat(dram, 99), "ms"),
         ratio(p99, peer_lat(huey, 99), True), ratio(p99, peer_lat(dram, 99), True), ""],
        [f"4. Start-up `gae-emu dev {startup['app']}` to first 200 (median of {len(startup['no_reload'])})",
         f"{fmt(median(startup['reload']), 's')} (--no-reload {fmt(median(startup['no_reload']), 's')})",
         "", "", "", "", "<1 s"],
        ["   peak RSS idle / after drain (VmHWM)",
         f"{fmt(g['rss_idle']['VmHWM'], 'MB')} / {fmt(g['rss_after_drain']['VmHWM'], 'MB')}",
         fmt(huey.get("peak_rss_kb"), "MB") if huey else "", fmt(dram.get("peak_rss_kb"), "MB") if dram else "",
         "", "", ""],
        [f"5. Drain throughput with {g['backlog_size']:,} future tasks queued (tasks/s, median of "
         f"{len(g['backlog_drains'])})", fmt(backlog_tp),
         "", "", "", "", "within 10% of empty"],
        [f"   backlog / empty queue (drained in turn; empty: {fmt(paired_tp)})", ratio(backlog_tp, paired_tp),
         "", "", "", "", "≥0.90×"],
        [f"   router cost per request, {r3['handlers']} vs {r100['handlers']} handlers (incl. built-ins)",
         f"{r3['us_per_request']:.1f} µs vs {r100['us_per_request']:.1f} µs", "", "", "", "", ""],
        ["Issue 3: dispatch throughput (N tasks due at one eta; tasks/s)", fmt(burst_tp), "", "", "", "", ""],
        [f"Issue 3: eta precision, {len(eta)} countdown tasks: p50 / p99 / max of run − eta",
         f"{fmt(percentile(eta, 50), 'ms')} / {fmt(percentile(eta, 99), 'ms')} / {fmt(max(eta) if eta else None, 'ms')}",
         "", "", "", "", "max <100 ms"],
        ["Ceiling: bare pickle→SQLite→unpickle→call loop (tasks/s; latency)",
         f"{fmt(ceil['throughput'])}; {fmt(ceil['latency'], 'ms', 3)}", "", "", "", "", ""],
    ]
    return [with_dev(row, ["dev_appserver", "gae-emu/dev_appserver"] if k == 0 else ["", ""])
            for k, row in enumerate(rows)]


def with_dev(row: List[str], dev: Sequence[str]) -> List[str]:
    """A 7-column row with the dev_appserver column after Dramatiq's and its ratio after theirs."""
    return row[:4] + [dev[0]] + row[4:6] + [dev[1]] + row[6:]


def render(rows: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if k == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def versions(peers: Dict[str, Any]) -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("gae-emu", "werkzeug", "huey", "dramatiq", "redis", "py-spy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    found["sqlite"] = sqlite3.sqlite_version
    if peers.get("redis_version"):
        found["redis-server"] = peers["redis_version"]
    try:
        found["gae-emu commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                                 capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return found


def machine() -> str:
    return (f"{os.cpu_count()} CPUs ({platform.machine()} {platform.processor() or ''}".rstrip() + "), "
            f"Python {platform.python_version()} ({platform.python_implementation()}), "
            f"{platform.system()} {platform.release()} ({platform.platform()})")


def details(g: Dict[str, Any], peers: Dict[str, Any]) -> str:
    lines = ["Per-run figures (tasks/s):", ""]
    lines.append("- gae-emu drains: " + ", ".join(fmt(d["throughput"]) for d in g["drains"]))
    lines.append("- gae-emu drains with backlog, each after one of an empty queue: " + ", ".join(
        f"{fmt(d['throughput'])} (empty {fmt(e['throughput'])})" for d, e in zip(g["backlog_drains"], g["paired_drains"])))
    lines.append("- gae-emu dispatch bursts: " + ", ".join(
        f"{fmt(b['throughput'])} (first task {fmt(b['first_late'], 'ms')} after the eta"
        f"{'' if b['enqueued_before_eta'] else '; enqueue overran the eta'})" for b in g["burst"]))
    lines.append("- gae-emu enqueue, dispatcher paused: " + ", ".join(fmt(v) for v in g["enqueue_paused"]))
    for name in ("huey", "dramatiq"):
        if name in peers:
            p = peers[name]
            lines.append(f"- {name} drains: " + ", ".join(fmt(d["throughput"]) for d in p["drains"])
                         + f"; latency timeouts: {p['latency_timeouts']}; {p['config']}")
    s = g["startup"]
    lines.append("- start-up (default --reload): " + ", ".join(fmt(v, "s") for v in s["reload"])
                 + "; --no-reload: " + ", ".join(fmt(v, "s") for v in s["no_reload"]))
    r = g["router"]
    lines.append(f"- router overhead over a direct WSGI call: {r['3']['us_overhead']:.1f} µs "
                 f"({r['3']['handlers']} handlers) vs {r['100']['us_overhead']:.1f} µs ({r['100']['handlers']} handlers)")
    eta = g["eta"]
    lines.append(f"- eta precision: min run − eta {fmt(min(eta['lateness']) if eta['lateness'] else None, 'ms')}"
                 f" (negative would mean early), missing {eta['missing']}, duplicated {eta['duplicated']}")
    lines.append(f"- latency timeouts (gae-emu): {g['latency']['timeouts']}")
    return "\n".join(lines)


def write_results(path: Path, table: str, g: Dict[str, Any], peers: Dict[str, Any], args: argparse.Namespace,
                  started: datetime.datetime, elapsed: float, profile_text: str = "", extra: str = "") -> None:
    vers = versions(peers)
    body = [
        "# gae-emu benchmark results",
        "",
        f"Generated by `python -m bench.run{' ' + ' '.join(args.argv) if args.argv else ''}` "
        "(see bench/run.py for what each row measures). Machines are shared and noisy: read the ratios.",
        "",
        f"- Date: {started.isoformat(timespec='seconds')} (run took {elapsed:.0f} s)",
        f"- Machine: {machine()}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        f"- Settings: N={args.n:,}, repeat={args.repeat}, latency tries={args.tries} with idle gaps "
        f"uniform(0, {args.max_gap}) s, backlog={args.backlog:,}, eta tasks={args.eta_tasks}; gae-emu with default "
        "settings (dispatcher on, SQLite WAL synchronous=NORMAL, log level info), `--no-reload` except where noted",
        "",
        table,
        "",
        details(g, peers) + extra,
        "",
    ]
    if profile_text:
        body += ["## Profile of the drain path", "", profile_text, ""]
    path.write_text("\n".join(body))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="tasks per drain (default 5000)")
    parser.add_argument("--repeat", type=int, default=5, help="drains per system; the median is shown (default 5)")
    parser.add_argument("--tries", type=int, default=200, help="latency tries (default 200)")
    parser.add_argument("--max-gap", type=float, default=0.25, help="largest random idle gap between latency tries, s")
    parser.add_argument("--backlog", type=int, default=100_000, help="far-future tasks queued for the scale test")
    parser.add_argument("--eta-tasks", type=int, default=200, help="countdown tasks for eta precision")
    parser.add_argument("--startup-tries", type=int, default=3)
    parser.add_argument("--router-requests", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on any one wait, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-peers", action="store_true", help="measure gae-emu only")
    parser.add_argument("--skip-python3", action="store_true", help="skip the python3 path (rows P1-P6)")
    parser.add_argument("--skip-dev-appserver", action="store_true",
                        help="skip the Cloud SDK's dev_appserver.py peer of the python3 rows")
    parser.add_argument("--rpc-calls", type=int, default=500, help="library RPC round trips timed per kind")
    parser.add_argument("--profile", action="store_true", help="also profile the drain path (py-spy, else cProfile)")
    parser.add_argument("--quick", action="store_true", help="N=1000, 1 repeat, 40 tries, 10k backlog: a smoke run")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.n, args.repeat, args.tries, args.backlog, args.eta_tasks, args.startup_tries = 1000, 1, 40, 10_000, 50, 1
        args.rpc_calls = 100
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not args.skip_peers:
        missing = missing_dependencies()
        if missing:
            print("bench: missing " + ", ".join(missing) + "; " + INSTALL_HINT, file=sys.stderr)
            return 2
    started, t0 = datetime.datetime.now().astimezone(), time.monotonic()
    ceil = ceiling(min(args.n, 5000))
    g = measure_gae_emu(args)
    peers = {} if args.skip_peers else measure_peers(args)
    profile_text = ""
    if args.profile:
        from bench.profile_drain import profile_drain

        profile_text = profile_drain(n=max(4 * args.n, 5000), timeout=args.timeout)
    rows = build_rows(g, peers, ceil, args)
    p3: Optional[Dict[str, Any]] = None
    from bench import python3_path

    why_not = "skipped (--skip-python3)" if args.skip_python3 else python3_path.available()
    if why_not is None:
        say("gae-emu python3 path: drain, latency, RPC round trips, start-up, backlog")
        p3 = python3_path.measure(args, sys.modules[__name__])
        if not args.skip_dev_appserver:
            from bench import dev_appserver_peer

            say("peer: Google's dev_appserver.py on the python3 app (P1, P3-P5)")
            p3["dev_appserver"] = dev_appserver_peer.measure(args, sys.modules[__name__])
        rows += python3_path.rows(p3, peers, args, sys.modules[__name__])
    else:
        rows.append(with_dev([f"P1-P6. python3 path: {why_not}", "", "", "", "", "", ""], ["", ""]))
    table = render(rows)
    extra = "\n" + python3_path.details(p3, sys.modules[__name__]) if p3 else ""
    if p3 and p3.get("dev_appserver"):
        from bench import dev_appserver_peer

        extra += "\n" + dev_appserver_peer.details(p3["dev_appserver"], sys.modules[__name__])
    print(table)
    print()
    print(details(g, peers) + extra)
    if profile_text:
        print()
        print(profile_text)
    write_results(args.output, table, g, peers, args, started, time.monotonic() - t0, profile_text, extra)
    say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
