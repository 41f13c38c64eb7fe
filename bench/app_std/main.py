"""The python3 benchmark app: `deferred.defer` from Google's library (every defer is an RPC to the
API server), no-op tasks counted in memory, and library round trips timed inside the app.

Endpoints (GET, JSON) as the classic bench app's (bench/app/gae_emu_bench_app.py): /reset,
/defer?n=&base=, /wait?count=&timeout=, /check?base=&n=, /latency?id=&timeout=, plus
/rpc?kind=memcache|ndb&n= (per-call seconds of a memcache get, or an ndb put then get), and
/backlog?n=&countdown= (far-future tasks, 100 per BulkAdd).
"""
import json
import threading
import time
from urllib.parse import parse_qs

from google.appengine.api import memcache, taskqueue, wrap_wsgi_app
from google.appengine.ext import deferred, ndb

_cond = threading.Condition()
_runs = {}
_times = {}
_stats = {"total": 0, "first": None, "last": None}
_want = {"count": None, "ids": set()}


class Item(ndb.Model):
    value = ndb.IntegerProperty()


def noop(i):
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


def _reset(q):
    with _cond:
        _runs.clear()
        _times.clear()
        _stats.update(total=0, first=None, last=None)
    return {"ok": True}


def _defer(q):
    n, base = int(q.get("n", 1000)), int(q.get("base", 0))
    start = time.time()
    for i in range(base, base + n):
        deferred.defer(noop, i)
    return {"start": start, "end": time.time(), "n": n}


def _wait(q):
    count, timeout = int(q["count"]), float(q.get("timeout", 60))
    with _cond:
        _want["count"] = count
        _cond.wait_for(lambda: _stats["total"] >= count, timeout)
        _want["count"] = None
        return {"total": _stats["total"], "first": _stats["first"], "last": _stats["last"]}


def _check(q):
    base, n = int(q.get("base", 0)), int(q["n"])
    with _cond:
        ids = range(base, base + n)
        return {"missing": sum(1 for i in ids if i not in _runs),
                "duplicated": sum(1 for i in ids if _runs.get(i, 0) > 1),
                "foreign": sum(1 for i in _runs if not base <= i < base + n), "total": _stats["total"]}


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


def _rpc(q):
    kind, n = q.get("kind", "memcache"), int(q.get("n", 200))
    seconds = []
    if kind == "memcache":
        memcache.set("bench-key", "v" * 100)
        for _ in range(n):
            start = time.perf_counter()
            memcache.get("bench-key")
            seconds.append(time.perf_counter() - start)
    else:
        for i in range(n):
            start = time.perf_counter()
            key = Item(id="bench-%d" % (i % 50), value=i).put()
            key.get(use_cache=False, use_memcache=False)
            seconds.append(time.perf_counter() - start)
    return {"seconds": seconds}


def _backlog(q):
    """n far-future tasks, 100 per BulkAdd call (the scale test's backlog; never run in the bench)."""
    n, countdown = int(q.get("n", 10000)), float(q.get("countdown", 7 * 86400))
    base = int(q.get("base", -10 ** 9))
    queue = taskqueue.Queue("default")
    start = time.time()
    for chunk in range(0, n, 100):
        queue.add([taskqueue.Task(payload=deferred.serialize(noop, base - i), url="/_ah/queue/deferred",
                                  countdown=countdown, headers={"Content-Type": "application/octet-stream"})
                   for i in range(chunk, min(chunk + 100, n))])
    return {"n": n, "seconds": time.time() - start}


ROUTES = {"/backlog": _backlog, "/reset": _reset, "/defer": _defer, "/wait": _wait, "/check": _check, "/latency": _latency, "/rpc": _rpc}


def wsgi(environ, start_response):
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


app = wrap_wsgi_app(wsgi, use_deferred=True)
