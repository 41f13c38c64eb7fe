"""The path real apps take (issue 13): a python312 app on Google's `appengine-python-standard`, run in
its instance process, deferring no-op tasks through the API server (`bench/app_std/`).

Measured, each through the real `gae-emu dev` (default settings, `--no-reload`, free ports):
drain throughput and enqueue rate, every task exactly once; p50/p99 defer→run latency; the library's
RPC round trip from app code (memcache get; ndb put+get); start-up of `sample_app_std/` to its first
200; RSS of the emulator and of the instance; the drain with a 100,000-task backlog against an empty
queue, drained in turn. The drain and latency helpers are the classic path's (bench/run.py).

Imports: the standard library and this package.
"""
from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.emu import Server

BENCH_DIR = Path(__file__).resolve().parent
APP_STD = BENCH_DIR / "app_std"
SAMPLE_STD = BENCH_DIR.parent / "sample_app_std"


def available() -> Optional[str]:
    """None when the python3 path can be measured, else why not."""
    if importlib.util.find_spec("google.appengine.api") is None:
        return "appengine-python-standard is not installed (pip install -e '.[google]')"
    return None


def app_std_figures(server: Any, args: argparse.Namespace, h: Any) -> Dict[str, Any]:
    """Drains, latency and library round trips of bench/app_std on a started `server` (gae-emu's,
    or a peer's with the same `get` and `wait_for_200`)."""
    server.wait_for_200()
    time.sleep(0.5)
    return {
        "drains": [h.drain(server, args.n, r * args.n, args.timeout) for r in range(args.repeat)],
        "latency": h.latency(server, args.tries, args.max_gap, args.seed),
        "rpc": {kind: server.get(f"/rpc?kind={kind}&n={args.rpc_calls}", timeout=args.timeout)["seconds"]
                for kind in ("memcache", "ndb")},
    }


def measure(args: argparse.Namespace, h: Any) -> Dict[str, Any]:
    """The python3 path's figures; `h` is bench/run.py (its drain, latency and paired drains)."""
    out: Dict[str, Any] = {}
    with Server(app=APP_STD) as server:
        out.update(app_std_figures(server, args, h))
        pids = server.instance_pids()
        out["rss_emulator"] = server.memory_kb()
        out["rss_instance"] = server.memory_kb(pids.get("default")) if pids.get("default") else {}
    out["enqueue_paused"] = h.enqueue_paused(APP_STD, args)
    out.update(h.backlog_drains(APP_STD, args, pairs=max(args.repeat, 3)))
    out["startup"] = []
    for _ in range(args.startup_tries):
        with Server(app=SAMPLE_STD, args=("--no-reload",)) as server:
            out["startup"].append(server.wait_for_200("/"))
    return out


def rows(p3: Dict[str, Any], peers: Dict[str, Any], args: argparse.Namespace, h: Any) -> List[List[str]]:
    """Table rows, as bench/run.py builds its own (`h` is that module: fmt, ratio, median, ...)."""
    huey, dram = peers.get("huey"), peers.get("dramatiq")

    def peer(p: Optional[Dict[str, Any]], key: str) -> Optional[float]:
        return h.median([d[key] for d in p["drains"]]) if p else None

    drain_tp = h.median([d["throughput"] for d in p3["drains"]])
    enq = h.median([d["enqueue_rate"] for d in p3["drains"]])
    lat = p3["latency"]["values"]
    mc, nd = p3["rpc"]["memcache"], p3["rpc"]["ndb"]
    backlog_tp = h.median([d["throughput"] for d in p3["backlog_drains"]])
    paired_tp = h.median([d["throughput"] for d in p3["paired_drains"]])
    once = "yes" if all(h.exactly_once(p3[k]) for k in ("drains", "backlog_drains", "paired_drains")) else "NO"
    dev = p3.get("dev_appserver")  # Google's dev_appserver.py on the same app (bench/dev_appserver_peer.py)
    from bench.dev_appserver_peer import columns

    def cols(ours: Optional[float], key: str, lower: bool = False, unit: str = "", digits: int = 0,
             also: str = "") -> List[str]:
        return columns(dev, ours, key, h, lower, unit, digits, also)

    dev_once = [""] if not dev else ["n/a"] if "error" in dev else [
        "yes" if h.exactly_once(dev["drains"]) else "NO"]
    lat50, lat99 = h.percentile(lat, 50), h.percentile(lat, 99)
    startup = h.median(p3["startup"])
    startup_label = f"P5. start-up `gae-emu dev sample_app_std/` to first 200 (median of {len(p3['startup'])})"
    if dev and "error" not in dev:
        startup_label += "; dev_appserver without its venv build"
    w = h.with_dev
    return [
        w([f"P1. python3 path drain, N={args.n:,} (tasks/s, median of {len(p3['drains'])})", h.fmt(drain_tp),
           h.fmt(peer(huey, "throughput")), h.fmt(peer(dram, "throughput")),
           h.ratio(drain_tp, peer(huey, "throughput")), h.ratio(drain_tp, peer(dram, "throughput")),
           "≥3× Huey, ≥3× Dramatiq"], cols(drain_tp, "throughput")),
        w(["   every task ran exactly once", once, "", "", "", "", "yes"], dev_once + [""]),
        w(["P2. python3 enqueue rate during the drain (defer/s)", h.fmt(enq), h.fmt(peer(huey, "enqueue_rate")),
           h.fmt(peer(dram, "enqueue_rate")), h.ratio(enq, peer(huey, "enqueue_rate")),
           h.ratio(enq, peer(dram, "enqueue_rate")), "≥3× Huey"], cols(enq, "enqueue_rate")),
        w(["   enqueue rate, dispatcher paused (defer/s)", h.fmt(h.median(p3["enqueue_paused"])), "", "", "", "", ""],
          ["", ""]),
        w([f"P3. python3 defer→run latency p50 / p99, idle, {len(lat)} tries",
           f"{h.fmt(lat50, 'ms')} / {h.fmt(lat99, 'ms')}", "", "", "", "", "p50 ≤2 ms"], cols(lat50, "lat50", True, "ms", also="lat99")),
        w([f"P4. library RPC from app code, memcache get p50 / p99 ({len(mc)} calls)",
           f"{h.fmt(h.percentile(mc, 50), 'ms', 3)} / {h.fmt(h.percentile(mc, 99), 'ms', 3)}", "", "", "", "",
           "p50 ≤0.3 ms"], cols(h.percentile(mc, 50), "memcache", True, "ms", 3, "memcache99")),
        w([f"   ndb put+get p50 / p99 ({len(nd)} calls)",
           f"{h.fmt(h.percentile(nd, 50), 'ms', 3)} / {h.fmt(h.percentile(nd, 99), 'ms', 3)}", "", "", "", "",
           "p50 ≤1 ms"], cols(h.percentile(nd, 50), "ndb", True, "ms", 3, "ndb99")),
        w([startup_label, h.fmt(startup, "s"), "", "", "", "", "≤1.5 s"], cols(startup, "startup", True, "s")),
        w(["   RSS emulator / instance after the drains (VmHWM)",
           f"{h.fmt(p3['rss_emulator'].get('VmHWM'), 'MB')} / {h.fmt(p3['rss_instance'].get('VmHWM'), 'MB')}",
           "", "", "", "", ""], ["", ""]),
        w([f"P6. python3 drain with {p3['backlog_size']:,} future tasks / empty queue (empty: {h.fmt(paired_tp)})",
           f"{h.fmt(backlog_tp)} ({h.ratio(backlog_tp, paired_tp)})", "", "", "", "", "≥0.90×"], ["", ""]),
    ]


def details(p3: Dict[str, Any], h: Any) -> str:
    return "\n".join([
        "- python3 drains: " + ", ".join(h.fmt(d["throughput"]) for d in p3["drains"]),
        "- python3 drains with backlog, each after one of an empty queue: " + ", ".join(
            f"{h.fmt(d['throughput'])} (empty {h.fmt(e['throughput'])})"
            for d, e in zip(p3["backlog_drains"], p3["paired_drains"])),
        "- python3 enqueue, dispatcher paused: " + ", ".join(h.fmt(v) for v in p3["enqueue_paused"]),
        "- sample_app_std start-up: " + ", ".join(h.fmt(v, "s") for v in p3["startup"]),
        f"- python3 latency timeouts: {p3['latency']['timeouts']}",
    ])
