"""The benchmark app: defers no-op tasks and records, in memory, every run of every task.

`noop(i)` is the deferred workload: a top-level function taking one int that counts its runs, so
the harness can prove every task ran exactly once. Control endpoints (GET, JSON answers):

  /                    200 "ok" (start-up probe)
  /reset               forget every recorded run
  /defer?n=&base=      defer noop(base..base+n-1); returns enqueue start/end times
  /wait?count=&timeout=  block until `count` runs were recorded (no polling); returns run stats
  /check?base=&n=      exactly-once check of ids base..base+n-1
  /latency?id=&timeout=  defer noop(id), block until it ran; returns run time - defer time
  /eta?n=&base=&min=&max=  defer n tasks with random countdowns in [min, max]; remembers each eta
  /eta_result?base=&n=   run time minus eta for those tasks
  /burst?n=&base=&delay=  defer n tasks all with the same eta = now + delay (dispatch throughput)
  /backlog?n=&countdown=  add n far-future tasks in batches of 100 (never run during the bench)

Times are time.time() of this process, so client/server clock skew never enters a figure.
"""
import datetime
import json
import random
import threading
import time
from urllib.parse import parse_qs

from gae_emu.api import taskqueue
from gae_emu.ext import deferred

_cond = threading.Condition()
_runs = {}  # id -> number of runs
_times = {}  # id -> time of the (last) run
_etas = {}  # id -> eta the task was given
_stats = {"total": 0, "first": None, "last": None}
# What blocked requests wait for: a task's run wakes them only when it may satisfy one, so the
# harness adds no thread wake-up per task to the workload it measures.
_want = {"count": None, "ids": set()}


def noop(i):
    """The deferred no-op task: records that task `i` ran."""
    now = time.time()
    with _cond:
        _runs[i] = _runs.get(i, 0) + 1
        _times[i] = now
        _stats["total"] += 1
        if _stats["first"] is None:
            _stats["first"] = now
        _stats["last"] = now
        count = _want["count"]
        if (count is not None and _stats["total"] >= count) or i in _want["ids"]:
            _cond.notify_all()


def _snapshot():
    return {"total": _stats["total"], "first": _stats["first"], "last": _stats["last"]}


def _reset(q):
    with _cond:
        _runs.clear()
        _times.clear()
        _etas.clear()
        _stats.update(total=0, first=None, last=None)
    return {"ok": True}


def _defer(q):
    n, base = int(q.get("n", 1000)), int(q.get("base", 0))
    start = time.time()
    for i in range(base, base + n):
        deferred.defer(noop, i)
    end = time.time()
    return {"start": start, "end": end, "n": n}


def _wait(q):
    count, timeout = int(q["count"]), float(q.get("timeout", 60))
    with _cond:
        _want["count"] = count
        _cond.wait_for(lambda: _stats["total"] >= count, timeout)
        _want["count"] = None
        return _snapshot()


def _check(q):
    base, n = int(q.get("base", 0)), int(q["n"])
    with _cond:
        ids = range(base, base + n)
        missing = sum(1 for i in ids if i not in _runs)
        duplicated = sum(1 for i in ids if _runs.get(i, 0) > 1)
        foreign = sum(1 for i in _runs if not base <= i < base + n)
        return {"missing": missing, "duplicated": duplicated, "foreign": foreign, "total": _stats["total"]}


def _latency(q):
    task_id, timeout = int(q["id"]), float(q.get("timeout", 10))
    with _cond:
        _want["ids"].add(task_id)
    start = time.time()
    deferred.defer(noop, task_id)
    with _cond:
        ran = _cond.wait_for(lambda: task_id in _times, timeout)
        _want["ids"].discard(task_id)
        return {"latency": (_times[task_id] - start) if ran else None}


def _eta(q):
    n, base = int(q.get("n", 200)), int(q.get("base", 0))
    low, high = float(q.get("min", 0.05)), float(q.get("max", 2.0))
    rng = random.Random(int(q.get("seed", 1)))
    etas = {}
    for i in range(base, base + n):
        task = deferred.defer(noop, i, _countdown=rng.uniform(low, high))
        etas[i] = task.eta_posix
    with _cond:
        _etas.update(etas)
    return {"n": n}


def _eta_result(q):
    base, n = int(q.get("base", 0)), int(q["n"])
    with _cond:
        lateness = [_times[i] - _etas[i] for i in range(base, base + n) if i in _times and i in _etas]
        runs = [_runs.get(i, 0) for i in range(base, base + n)]
    return {"lateness": lateness, "missing": runs.count(0), "duplicated": sum(1 for r in runs if r > 1)}


def _burst(q):
    n, base, delay = int(q.get("n", 5000)), int(q.get("base", 0)), float(q.get("delay", 2.0))
    eta_posix = time.time() + delay
    eta = datetime.datetime.fromtimestamp(eta_posix, datetime.timezone.utc)
    queue = taskqueue.Queue("default")
    start = time.time()
    for chunk in range(base, base + n, 100):
        queue.add([taskqueue.Task(payload=deferred.serialize(noop, i), url="/_ah/queue/deferred", eta=eta,
                                  headers={"Content-Type": "application/octet-stream"})
                   for i in range(chunk, min(chunk + 100, base + n))])
    return {"eta": eta_posix, "enqueued_by": time.time(), "enqueue_seconds": time.time() - start}


def _backlog(q):
    n, countdown = int(q.get("n", 10000)), float(q.get("countdown", 7 * 86400))
    base = int(q.get("base", -10 ** 9))
    queue = taskqueue.Queue("default")
    start = time.time()
    for chunk in range(0, n, 100):
        queue.add([taskqueue.Task(payload=deferred.serialize(noop, base - i), url="/_ah/queue/deferred",
                                  countdown=countdown, headers={"Content-Type": "application/octet-stream"})
                   for i in range(chunk, min(chunk + 100, n))])
    return {"n": n, "seconds": time.time() - start}


ROUTES = {
    "/reset": _reset, "/defer": _defer, "/wait": _wait, "/check": _check, "/latency": _latency,
    "/eta": _eta, "/eta_result": _eta_result, "/burst": _burst, "/backlog": _backlog,
}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    route = ROUTES.get(path)
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such bench endpoint"]
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    body = json.dumps(route(query)).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
