"""Test app for the deferred integration tests: the seed example, one callable of every kind that
works and of every kind that must be refused, the large-payload paths, and failure modes. Deferred
callables record each run (with the task request's headers) in the datastore.

Routes answer JSON; see `ROUTES` at the bottom.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Iterable, List
from urllib.parse import parse_qs

from gae_emu import apiproxy
from gae_emu.api import taskqueue
from gae_emu.ext import db, deferred


# -- the seed example, unchanged except for its imports -------------------------------------------


class MyModel(db.Model):
    total = db.IntegerProperty(default=0)


def do_something_later(key, amount):
    entity = MyModel.get(key)
    entity.total += amount
    entity.put()


# -- recording --------------------------------------------------------------------------------------


class Run(db.Model):
    tag = db.StringProperty()
    at = db.FloatProperty()
    data = db.TextProperty()


def record(tag: str, *args: Any, **info: Any) -> None:
    """Store one run of a deferred callable, with the task request it came in."""
    environ = apiproxy.request_environ.get() or {}
    seen = {
        "tag": tag,
        "at": time.time(),
        "args": [repr(a)[:100] for a in args],
        "info": info,
        "module": environ.get("CURRENT_MODULE_ID"),
        "path": environ.get("PATH_INFO"),
        "headers": {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                    if isinstance(v, str) and k.startswith("HTTP_")},
        "content_type": environ.get("CONTENT_TYPE"),
    }
    Run(tag=tag, at=seen["at"], data=json.dumps(seen)).put()


def _retry_count() -> int:
    environ = apiproxy.request_environ.get() or {}
    return int(environ.get("HTTP_X_APPENGINE_TASKRETRYCOUNT", "0"))


# -- the seven kinds of callable that can be deferred -------------------------------------------------


class Recorder:
    """A top-level class: deferring it constructs an instance."""

    def __init__(self, tag: str) -> None:
        record(tag, kind="class")


class CallableThing:
    """Instances are callable."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, tag: str) -> None:
        record(tag, kind="instance", prefix=self.prefix)


class Thing:
    def __init__(self, value: int) -> None:
        self.value = value

    def method(self, tag: str) -> None:
        record(tag, kind="bound", value=self.value)

    @classmethod
    def cmethod(cls, tag: str) -> None:
        record(tag, kind="classmethod", cls=cls.__name__)

    @staticmethod
    def smethod(tag: str) -> None:
        record(tag)

    class Inner:
        def __call__(self, tag: str) -> None:
            record(tag)


def allowed(kind: str, tag: str) -> taskqueue.Task:
    if kind == "function":
        return deferred.defer(record, tag, kind="function")
    if kind == "class":
        return deferred.defer(Recorder, tag)
    if kind == "instance":
        return deferred.defer(CallableThing("p"), tag)
    if kind == "bound":
        return deferred.defer(Thing(7).method, tag)
    if kind == "classmethod":
        return deferred.defer(Thing.cmethod, tag)
    if kind == "builtin_function":
        # sorted() calls its key for each item: the run is observable through record().
        return deferred.defer(sorted, [tag], key=record)
    if kind == "builtin_method":
        return deferred.defer([tag].sort, key=record)
    raise KeyError(kind)


# -- kinds that must be refused at defer time ---------------------------------------------------------


def _nested() -> Callable:
    def nested_function(tag: str) -> None:
        record(tag)

    return nested_function


def _closure(suffix: str) -> Callable:
    def closure(tag: str) -> None:
        record(tag + suffix)

    return closure


def _local_class() -> type:
    class LocalClass:
        def __call__(self, tag: str) -> None:
            record(tag)

    return LocalClass


FORBIDDEN: Dict[str, Callable[[], Any]] = {
    "nested_function": _nested,
    "closure": lambda: _closure("x"),
    "lambda": lambda: (lambda tag: record(tag)),
    "staticmethod": lambda: Thing.smethod,
    "staticmethod_object": lambda: Thing.__dict__["smethod"],
    "nested_class": lambda: Thing.Inner,
    "nested_class_instance": lambda: Thing.Inner(),
    "local_class": _local_class,
    "local_class_instance": lambda: _local_class()(),
}


# -- payloads and failures ----------------------------------------------------------------------------


def record_big(tag: str, blob: bytes) -> None:
    record(tag, size=len(blob))


def fail_permanent(tag: str) -> None:
    record(tag, retry=_retry_count())
    raise deferred.PermanentTaskFailure("this task can never succeed")


def fail_singular(tag: str) -> None:
    record(tag, retry=_retry_count())
    if _retry_count() < 2:
        raise deferred.SingularTaskFailure()


def fail_other(tag: str) -> None:
    record(tag, retry=_retry_count())
    if _retry_count() < 1:
        raise RuntimeError("transient trouble")


FAILURES = {"permanent": fail_permanent, "singular": fail_singular, "other": fail_other}
BIG = 200 * 1024


# -- routes ------------------------------------------------------------------------------------------


def _task(task: taskqueue.Task) -> Dict[str, Any]:
    return {"name": task.name, "eta": task.eta_posix, "queue": task.queue_name}


def seed(q: Dict[str, str]) -> Dict[str, Any]:
    my_key = MyModel(total=0).put()
    first = deferred.defer(do_something_later, my_key, 20)
    second = deferred.defer(do_something_later, my_key, 20, _queue="foo", _countdown=float(q.get("countdown", 1)))
    return {"key": str(my_key), "tasks": [_task(first), _task(second)]}


def model(q: Dict[str, str]) -> Dict[str, Any]:
    entity = MyModel.get(q["key"])
    return {"total": entity.total if entity else None}


def defer_kind(q: Dict[str, str]) -> Dict[str, Any]:
    return _task(allowed(q["kind"], q["tag"]))


def forbidden(q: Dict[str, str]) -> Dict[str, Any]:
    obj = FORBIDDEN[q["kind"]]()
    try:
        deferred.defer(obj, q["tag"], _queue="refused")
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None}


def large(q: Dict[str, str]) -> Dict[str, Any]:
    task = deferred.defer(record_big, q["tag"], b"x" * BIG, _countdown=float(q.get("countdown", 0)))
    return {**_task(task), "entities": entity_count()}


def large_txn(q: Dict[str, str]) -> Dict[str, Any]:
    tag, rollback = q["tag"], q.get("rollback") == "1"

    def work() -> taskqueue.Task:
        MyModel(key_name=tag, total=1).put()
        task = deferred.defer(record_big, tag, b"x" * BIG, _transactional=True, _queue="txn",
                              _countdown=float(q.get("countdown", 0)))
        if rollback:
            raise db.Rollback()
        return task

    # Two entity groups (the model and the payload entity): an xg transaction, as on App Engine.
    task = db.run_in_transaction_options(db.create_transaction_options(xg=True), work)
    return {"task": _task(task) if task else None, "entities": entity_count(),
            "model": MyModel.get_by_key_name(tag) is not None}


def passthrough(q: Dict[str, str]) -> Dict[str, Any]:
    task = deferred.defer(record, q["tag"], _name=q["name"], _countdown=0.5, _queue="foo", _target="worker",
                          _headers={"X-Custom": "custom-value"})
    return _task(task)


def failure(q: Dict[str, str]) -> Dict[str, Any]:
    return _task(deferred.defer(FAILURES[q["kind"]], q["tag"], _queue="fail"))


def entity_count() -> int:
    return deferred._DeferredTaskEntity.all().count()


def runs(q: Dict[str, str]) -> List[Dict[str, Any]]:
    found = [json.loads(r.data) for r in Run.all().filter("tag =", q["tag"]).fetch(1000)]
    return sorted(found, key=lambda r: r["at"])


def stats(q: Dict[str, str]) -> Dict[str, Any]:
    s = taskqueue.Queue(q.get("queue", "default")).fetch_statistics()
    return {"tasks": s.tasks, "in_flight": s.in_flight}


def entities(q: Dict[str, str]) -> Dict[str, Any]:
    return {"count": entity_count()}


ROUTES: Dict[str, Callable[[Dict[str, str]], Any]] = {
    "/seed": seed, "/model": model, "/defer": defer_kind, "/forbidden": forbidden, "/large": large,
    "/large_txn": large_txn, "/passthrough": passthrough, "/failure": failure, "/runs": runs,
    "/stats": stats, "/entities": entities,
}


def app(environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    route = ROUTES.get(environ["PATH_INFO"])
    if route is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    result = route(query)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]
