"""The peers' side of the benchmark: the same no-op workload on Huey (SqliteHuey, 2 worker threads)
and on Dramatiq (Redis on loopback, prefetch 64), producer and workers in this one process, as
gae-emu's app code and dispatcher share one process.

Run by `bench/run.py` in a fresh interpreter per peer (`python bench/peers.py huey|dramatiq ...`);
prints one JSON object on its last stdout line. The Redis server is started and stopped by run.py.

Workload, identical to the gae-emu app's (`bench/app/gae_emu_bench_app.py`):
- drain: enqueue N calls of `noop(i)` while the workers run; time from the first enqueue to the last
  task executed; every id must have run exactly once. Repeated `repeat` times with fresh ids.
- enqueue rate: the enqueue loop of each drain (workers running, as for gae-emu's).
- latency: with idle workers, enqueue one task and time until it ran; `tries` times with random
  idle gaps (same seed as gae-emu's).

Imports: the standard library; huey or dramatiq+redis (the `bench` extra).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional


class Recorder:
    """Counts runs per id and wakes waiters; what the gae-emu bench app does in its `noop`."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.runs: Dict[int, int] = {}
        self.times: Dict[int, float] = {}
        self.total = 0
        self.last: Optional[float] = None
        # Wake waiters only when a run may satisfy them (no thread wake-up per task).
        self.want_count: Optional[int] = None
        self.want_id: Optional[int] = None

    def record(self, i: int) -> None:
        now = time.time()
        with self.cond:
            self.runs[i] = self.runs.get(i, 0) + 1
            self.times[i] = now
            self.total += 1
            self.last = now
            if (self.want_count is not None and self.total >= self.want_count) or i == self.want_id:
                self.cond.notify_all()

    def reset(self) -> None:
        with self.cond:
            self.runs.clear()
            self.times.clear()
            self.total = 0
            self.last = None

    def wait_total(self, count: int, timeout: float) -> bool:
        with self.cond:
            self.want_count = count
            try:
                return self.cond.wait_for(lambda: self.total >= count, timeout)
            finally:
                self.want_count = None

    def wait_id(self, i: int, timeout: float) -> bool:
        with self.cond:
            try:
                return self.cond.wait_for(lambda: i in self.times, timeout)
            finally:
                self.want_id = None


RECORDER = Recorder()


def workload(send: Callable[[int], None], n: int, repeat: int, tries: int, max_gap: float, seed: int,
             timeout: float) -> dict:
    drains: List[dict] = []
    for r in range(repeat):
        RECORDER.reset()
        base = r * n
        start = time.time()
        for i in range(base, base + n):
            send(i)
        enqueued = time.time()
        finished = RECORDER.wait_total(n, timeout)
        time.sleep(0.2)  # a late duplicate would show up here
        with RECORDER.cond:
            runs = dict(RECORDER.runs)
            last = RECORDER.last
        missing = sum(1 for i in range(base, base + n) if i not in runs)
        duplicated = sum(1 for v in runs.values() if v > 1)
        drains.append({
            "n": n, "finished": finished, "seconds": (last - start) if last else None,
            "throughput": n / (last - start) if finished and last else None,
            "enqueue_rate": n / max(enqueued - start, 1e-9),
            "missing": missing, "duplicated": duplicated, "total_runs": sum(runs.values()),
        })
    rng = random.Random(seed)
    latencies: List[float] = []
    lost = 0
    RECORDER.reset()
    for k in range(tries):
        time.sleep(rng.uniform(0.0, max_gap))
        task_id = 10 ** 9 + k
        with RECORDER.cond:
            RECORDER.want_id = task_id
        start = time.time()
        send(task_id)
        if RECORDER.wait_id(task_id, timeout=min(timeout, 15.0)):
            latencies.append(RECORDER.times[task_id] - start)
        else:
            lost += 1
    return {"drains": drains, "latencies": latencies, "latency_timeouts": lost, "peak_rss_kb": peak_rss_kb()}


def peak_rss_kb() -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_huey(args: argparse.Namespace) -> dict:
    import huey
    from huey import SqliteHuey

    tmp = tempfile.mkdtemp(prefix="gae-emu-bench-huey-")
    try:
        queue = SqliteHuey(name="bench", filename=os.path.join(tmp, "huey.db"))

        @queue.task()
        def noop(i: int) -> None:
            RECORDER.record(i)

        consumer = queue.create_consumer(workers=2, worker_type="thread", periodic=False)
        consumer.start()
        try:
            result = workload(noop, args.n, args.repeat, args.tries, args.max_gap, args.seed, args.timeout)
        finally:
            consumer.stop(graceful=True)
        result["version"] = huey.__version__
        result["config"] = "SqliteHuey (WAL, default synchronous), 2 worker threads, default polling"
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_dramatiq(args: argparse.Namespace) -> dict:
    import dramatiq
    import redis
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.worker import Worker

    broker = RedisBroker(host="127.0.0.1", port=args.redis_port)
    broker.client.flushall()
    dramatiq.set_broker(broker)

    @dramatiq.actor(max_retries=0, queue_name="bench")
    def noop(i: int) -> None:
        RECORDER.record(i)

    worker = Worker(broker, worker_threads=8)
    worker.queue_prefetch = 64
    worker.start()
    try:
        result = workload(noop.send, args.n, args.repeat, args.tries, args.max_gap, args.seed, args.timeout)
    finally:
        worker.stop()
        broker.close()
    result["version"] = f"{dramatiq.__version__} (redis-py {redis.__version__})"
    result["config"] = "RedisBroker on loopback, 8 worker threads, prefetch 64"
    return result


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=["huey", "dramatiq"])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--max-gap", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--redis-port", type=int, default=6379)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run_huey(args) if args.peer == "huey" else run_dramatiq(args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
