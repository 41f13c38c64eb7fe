"""Test app for the task queue integration tests: enqueue tasks on request, and record every task
request a handler receives (headers, environ, time) in the datastore so the test can read it back.

Routes:
- POST /enqueue   JSON {"queue": name, "task": {Task kwargs}} -> {"name", "eta"} or {"error", ...}
- GET  /runs?tag= JSON list of the recorded requests carrying that tag, oldest first
- GET  /stats?queue=  JSON {"tasks", "in_flight"} from Queue.fetch_statistics()
- anything else   a task handler: records the request under its tag (query `tag`, else the last
  path segment); query `fail_until=N` answers 500 while
  X-AppEngine-TaskRetryCount < N, `sleep=S` sleeps S seconds first, `sleep_once=S` only on the
  first request of that task name.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Iterable, List
from urllib.parse import parse_qs

from gae_emu.api import taskqueue
from gae_emu.ext import db


class TaskRun(db.Model):
    """One request a task handler received."""

    tag = db.StringProperty()
    task_name = db.StringProperty()
    at = db.FloatProperty()
    data = db.TextProperty()


def _json(start_response: Callable, value: Any, status: str = "200 OK") -> List[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(value).encode()]


def _enqueue(environ: Dict[str, Any], start_response: Callable) -> List[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    spec = json.loads(environ["wsgi.input"].read(length))
    try:
        task = taskqueue.Task(**spec.get("task", {})).add(spec.get("queue", "default"))
    except taskqueue.Error as exc:
        return _json(start_response, {"error": type(exc).__name__, "message": str(exc),
                                      "bases": [c.__name__ for c in type(exc).__mro__]})
    return _json(start_response, {"name": task.name, "eta": task.eta_posix})


def _runs(tag: str) -> List[Dict[str, Any]]:
    runs = [json.loads(r.data) for r in TaskRun.all().filter("tag =", tag).fetch(1000)]
    return sorted(runs, key=lambda r: r["at"])


def _tag(environ: Dict[str, Any], query: Dict[str, str]) -> str:
    """The `tag` query parameter, else the last path segment (POST tasks cannot have a query)."""
    return query.get("tag") or environ["PATH_INFO"].rsplit("/", 1)[-1]


def _record(environ: Dict[str, Any], query: Dict[str, str]) -> Dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    seen = {
        "at": time.time(),
        "tag": _tag(environ, query),
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ.get("QUERY_STRING", ""),
        "body": body.decode("latin-1"),
        "remote_addr": environ.get("REMOTE_ADDR"),
        "module": environ.get("CURRENT_MODULE_ID"),
        "host": environ.get("HTTP_HOST"),
        "content_type": environ.get("CONTENT_TYPE"),
        "headers": {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")},
    }
    TaskRun(tag=seen["tag"], task_name=environ.get("HTTP_X_APPENGINE_TASKNAME", ""), at=seen["at"],
            data=json.dumps(seen)).put()
    return seen


def app(environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/enqueue":
        return _enqueue(environ, start_response)
    if path == "/runs":
        return _json(start_response, _runs(query["tag"]))
    if path == "/stats":
        stats = taskqueue.Queue(query.get("queue", "default")).fetch_statistics()
        return _json(start_response, {"tasks": stats.tasks, "in_flight": stats.in_flight})
    name = environ.get("HTTP_X_APPENGINE_TASKNAME", "")
    if "sleep_once" in query and not TaskRun.all().filter("task_name =", name).count():
        # Mark the start first, so a test can kill the server while the handler is inside.
        TaskRun(tag=_tag(environ, query) + "-started", task_name=name, at=time.time(), data=json.dumps(
            {"at": time.time(), "task_name": name})).put()
        time.sleep(float(query["sleep_once"]))
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    seen = _record(environ, query)
    retry = int(environ.get("HTTP_X_APPENGINE_TASKRETRYCOUNT", "0"))
    if retry < int(query.get("fail_until", 0)):
        return _json(start_response, {"failed": retry}, "500 Internal Server Error")
    return _json(start_response, {"ok": seen["path"]})
