"""Cloud Datastore API benchmark (issue 18): google-cloud-datastore (gRPC) against `gae-emu datastore`.

    python -m bench.cloud_datastore [--entities 1000] [--clients 30] [--seconds 10] [--tries 300]

Measured against the real `gae-emu datastore` in a subprocess (free loopback port, fresh storage):

1. single-client latency, p50/p99 over `--tries` calls: insert one entity (an upsert Commit),
   lookup one key, an indexed query (equality on a property, 10 of `--entities` entities match);
2. `--clients` concurrent clients (threads, each its own client and gRPC channel) for `--seconds`
   each: inserts (p50/p99 and sustained inserts/s), then queries (p50/p99, queries/s); first all in
   this process, then spread over `--processes` client processes (the client library's own Python
   work then no longer queues behind one GIL).

The reference points users cite for 30 concurrent Python clients: Google's Java emulator about
317 ms per single insert and 210 ms per query; a Rust rewrite about 5.6 ms and 68 ms.

Imports: the standard library, google-cloud-datastore; the server runs in a subprocess.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

PROJECT = "bench"


def start_server(storage: str) -> Tuple[subprocess.Popen, Dict[str, str]]:
    command = [sys.executable, "-m", "gae_emu", "datastore", "--port", "0", "--storage-path", storage,
               "--project", PROJECT, "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    env: Dict[str, str] = {}
    deadline = time.monotonic() + 60
    while "DATASTORE_PROJECT_ID" not in env and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"gae-emu datastore exited with {process.wait()}")
        if line.startswith("export "):
            name, _, value = line[7:].strip().partition("=")
            env[name] = value
    return process, env


def percentile(samples: List[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[], object], tries: int) -> List[float]:
    out = []
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def concurrent(make: Callable[[int], Callable[[], object]], clients: int, seconds: float) -> Tuple[List[float], float]:
    """Run `clients` threads calling their operation until `seconds` pass; (latencies ms, ops/s)."""
    latencies: List[List[float]] = [[] for _ in range(clients)]
    ops = [make(i) for i in range(clients)]
    start_line = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        start_line.wait()
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            ops[i]()
            latencies[i].append((time.perf_counter() - t) * 1000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start_line.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    return flat, len(flat) / elapsed


def _child(kind: str, clients: int, seconds: float, start_at: float, entities: int, out: "Any") -> None:
    """One client process of a multi-process run: `clients` threads from wall-clock `start_at`."""
    from google.cloud import datastore
    from google.cloud.datastore.query import PropertyFilter

    made = [datastore.Client(project=PROJECT) for _ in range(clients)]
    counter = iter(range(10**9))

    def make(i: int) -> Callable[[], object]:
        c = made[i]
        if kind == "insert":
            def op() -> None:
                e = datastore.Entity(c.key("Insert"))
                e.update({"n": next(counter), "payload": "x" * 100})
                c.put(e)
        else:
            def op() -> None:
                q = c.query(kind="Bench", filters=[PropertyFilter("bucket", "=", next(counter) % (entities // 10 or 1))])
                list(q.fetch())
        return op

    time.sleep(max(0.0, start_at - time.time()))
    out.put(concurrent(make, clients, seconds))


def across_processes(kind: str, clients: int, processes: int, seconds: float, entities: int) -> Tuple[List[float], float]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 8  # spawned interpreters import the client library first
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    children = [ctx.Process(target=_child, args=(kind, n, seconds, start_at, entities, out)) for n in shares if n]
    for child in children:
        child.start()
    results = [out.get(timeout=seconds + 120) for _ in children]
    for child in children:
        child.join()
    return [x for lat, _ in results for x in lat], sum(rate for _, rate in results)


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tries", type=int, default=300)
    parser.add_argument("--processes", type=int, default=6,
                        help="also run the concurrent clients spread over this many client processes (0: skip)")
    args = parser.parse_args(argv)

    from google.cloud import datastore
    from google.cloud.datastore.query import PropertyFilter

    storage = tempfile.mkdtemp(prefix="gae-emu-bench-ds-")
    process, env = start_server(storage)
    os.environ.update(env)
    rows: List[Tuple[str, str]] = []
    try:
        client = datastore.Client(project=PROJECT)
        batch = []
        for i in range(args.entities):
            e = datastore.Entity(client.key("Bench", i + 1))
            e.update({"bucket": i % (args.entities // 10 or 1), "n": i, "name": f"entity {i}"})
            batch.append(e)
            if len(batch) == 500:
                client.put_multi(batch)
                batch = []
        if batch:
            client.put_multi(batch)

        counter = iter(range(10**9))

        def insert(c: "datastore.Client") -> Callable[[], object]:
            def op() -> None:
                e = datastore.Entity(c.key("Insert"))
                e.update({"n": next(counter), "payload": "x" * 100})
                c.put(e)
            return op

        def query(c: "datastore.Client") -> Callable[[], object]:
            def op() -> None:
                q = c.query(kind="Bench", filters=[PropertyFilter("bucket", "=", next(counter) % 100)])
                assert len(list(q.fetch())) == 10
            return op

        def lookup() -> None:
            assert client.get(client.key("Bench", next(counter) % args.entities + 1)) is not None

        ins = timed(insert(client), args.tries)
        look = timed(lookup, args.tries)
        qry = timed(query(client), args.tries)
        rows += [("single client: insert p50 / p99", f"{percentile(ins, 50):.2f} ms / {percentile(ins, 99):.2f} ms"),
                 ("single client: lookup p50 / p99", f"{percentile(look, 50):.2f} ms / {percentile(look, 99):.2f} ms"),
                 (f"single client: indexed query (10 of {args.entities}) p50 / p99",
                  f"{percentile(qry, 50):.2f} ms / {percentile(qry, 99):.2f} ms")]
        clients = [datastore.Client(project=PROJECT) for _ in range(args.clients)]
        lat, rate = concurrent(lambda i: insert(clients[i]), args.clients, args.seconds)
        rows += [(f"{args.clients} clients: insert p50 / p99", f"{percentile(lat, 50):.2f} ms / {percentile(lat, 99):.2f} ms"),
                 (f"{args.clients} clients: sustained inserts/s", f"{rate:,.0f}")]
        lat, rate = concurrent(lambda i: query(clients[i]), args.clients, args.seconds)
        rows += [(f"{args.clients} clients: indexed query p50 / p99", f"{percentile(lat, 50):.2f} ms / {percentile(lat, 99):.2f} ms"),
                 (f"{args.clients} clients: queries/s", f"{rate:,.0f}")]
        if args.processes:
            label = f"{args.clients} clients in {args.processes} processes"
            lat, rate = across_processes("insert", args.clients, args.processes, args.seconds, args.entities)
            rows += [(f"{label}: insert p50 / p99", f"{percentile(lat, 50):.2f} ms / {percentile(lat, 99):.2f} ms"),
                     (f"{label}: sustained inserts/s", f"{rate:,.0f}")]
            lat, rate = across_processes("query", args.clients, args.processes, args.seconds, args.entities)
            rows += [(f"{label}: indexed query p50 / p99", f"{percentile(lat, 50):.2f} ms / {percentile(lat, 99):.2f} ms"),
                     (f"{label}: queries/s", f"{rate:,.0f}")]
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(storage, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"gae-emu datastore, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{args.entities} entities, {args.seconds:g} s per concurrent run")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"(median of single-client insert: {statistics.median(ins):.2f} ms)")


if __name__ == "__main__":
    main()
