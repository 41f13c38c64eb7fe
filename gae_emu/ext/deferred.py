"""`deferred`: run a callable later on the task queue, as `google.appengine.ext.deferred` does (B8).

`defer(fn, *args, **kwargs)` pickles `(callable, args, kwargs)` into a push task for
`/_ah/queue/deferred`; the handler (`application`, mounted by `builtins: - deferred: on` or the
SDK's handler entry, behind `login: admin`) unpickles and calls it. A payload over the task size
limit goes into a `_DeferredTaskEntity` and a small task runs `run_from_datastore(key)`.

Deliberate differences from Google's library, all towards "fail early, lose nothing":
- Callables that cannot be found again by name when the task runs (nested functions, closures,
  lambdas, static methods, nested classes and their instances) are refused at `defer` time with a
  `ValueError` naming the callable, instead of failing when the task runs.
- With `_transactional=True` the large-payload entity *and* its task join the caller's transaction
  (Google's library adds the task outside it). Without it, the entity is written outside any open
  transaction, so the task never runs before the entity exists.

Imports: the standard library, `gae_emu.api.taskqueue`, `gae_emu.ext.db`, `gae_emu.apiproxy`.
"""
from __future__ import annotations

import logging
import os
import pickle
import traceback
import types
from typing import Any, Callable, Iterable, List, Tuple

from gae_emu import apiproxy
from gae_emu.api import taskqueue
from gae_emu.ext import db

_DEFAULT_LOG_LEVEL = logging.INFO
_TASKQUEUE_HEADERS = {"Content-Type": "application/octet-stream"}
_DEFAULT_URL = "/_ah/queue/deferred"
_DEFAULT_QUEUE = "default"
_log_level = _DEFAULT_LOG_LEVEL

log = logging.getLogger("gae_emu.deferred")


class Error(Exception):
    """Base class for exceptions in this module."""


class PermanentTaskFailure(Error):
    """Indicates that a task failed, and will never succeed: it is not retried."""


class SingularTaskFailure(Error):
    """Indicates that a task failed once: it is retried, and not logged as an error."""


def set_log_level(log_level: int) -> None:
    """Sets the log level deferred uses for the X-AppEngine-* headers of each task it runs."""
    global _log_level
    _log_level = log_level


class MissingCodeError(Exception):
    """The payload names a module the server cannot import yet (the app is being edited, reloaded or
    started): the task answers 500 and is retried, as any failure, instead of being dropped."""


def run(data: bytes) -> Any:
    """Unpickles and runs a task payload; a payload that does not unpickle is a permanent failure,
    except when it names a module that cannot be imported right now (MissingCodeError, retried)."""
    try:
        func, args, kwds = pickle.loads(data)
    except ImportError as exc:
        raise MissingCodeError(f"the task's code cannot be imported now ({exc}); it will be retried") from exc
    except Exception as exc:
        raise PermanentTaskFailure(exc) from exc
    return func(*args, **kwds)


class _DeferredTaskEntity(db.Model):
    """Holds a deferred payload too large for a task."""

    data = db.BlobProperty(required=True)


def run_from_datastore(key: Any) -> Any:
    """Runs the payload stored under `key`, deleting the entity after success or permanent failure."""
    entity = _DeferredTaskEntity.get(key)
    if not entity:
        raise PermanentTaskFailure()
    try:
        result = run(entity.data)
        db.delete(key)
        return result
    except PermanentTaskFailure:
        db.delete(key)
        raise


def invoke_member(obj: Any, membername: str, *args: Any, **kwargs: Any) -> Any:
    """Calls obj.membername(*args, **kwargs): how bound methods travel in a pickle."""
    return getattr(obj, membername)(*args, **kwargs)


def _refusal(obj: Any) -> str:
    """Why `obj` cannot be found again by name when the task runs ('' if it can)."""
    if isinstance(obj, staticmethod):
        return "static methods cannot be deferred; use a top-level function"
    if isinstance(obj, (types.FunctionType, type)):
        qualname = getattr(obj, "__qualname__", "")
        if obj.__name__ == "<lambda>":
            return "lambdas cannot be deferred; use a top-level function"
        if "<locals>" in qualname:
            return "nested functions, closures and local classes cannot be deferred; define it at module level"
        if "." in qualname:
            kind = "nested classes" if isinstance(obj, type) else "static methods"
            return f"{kind} cannot be deferred; use a top-level function or class"
        return ""
    if isinstance(obj, (types.MethodType, types.BuiltinFunctionType, types.BuiltinMethodType)):
        return ""
    if callable(obj):
        cls_reason = _refusal(type(obj))
        return f"instances of {type(obj).__qualname__} cannot be deferred: {cls_reason}" if cls_reason else ""
    return "it is not callable"


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{name}"


def _curry_callable(obj: Any, *args: Any, **kwargs: Any) -> Tuple[Callable, tuple, dict]:
    """(callable, args, kwargs) to pickle; bound methods go through invoke_member, as App Engine does."""
    reason = _refusal(obj)
    if reason:
        raise ValueError(f"Cannot defer {_describe(obj)}: {reason}.")
    if isinstance(obj, types.MethodType) or (
        isinstance(obj, types.BuiltinMethodType) and not isinstance(getattr(obj, "__self__", None), types.ModuleType)
        and getattr(obj, "__self__", None) is not None
    ):
        return (invoke_member, (obj.__self__, obj.__name__) + args, kwargs)
    return (obj, args, kwargs)


def serialize(obj: Any, *args: Any, **kwargs: Any) -> bytes:
    """Serializes a callable and its arguments into a task payload."""
    curried = _curry_callable(obj, *args, **kwargs)
    protocol = 0 if os.environ.get("DEFERRED_USE_CROSS_COMPATIBLE_PICKLE_PROTOCOL") else pickle.HIGHEST_PROTOCOL
    try:
        return pickle.dumps(curried, protocol)
    except Exception as exc:
        raise pickle.PicklingError(f"Cannot defer {_describe(obj)}: its arguments cannot be pickled: {exc}") from exc


def defer(obj: Any, *args: Any, **kwargs: Any) -> taskqueue.Task:
    """Defers a callable and its arguments for execution on the task queue; returns the Task."""
    taskargs = {x: kwargs.pop(("_%s" % x), None) for x in ("countdown", "eta", "name", "target", "retry_options")}
    taskargs["url"] = kwargs.pop("_url", _DEFAULT_URL)
    transactional = kwargs.pop("_transactional", False)
    taskargs["headers"] = dict(_TASKQUEUE_HEADERS)
    taskargs["headers"].update(kwargs.pop("_headers", None) or {})
    queue = kwargs.pop("_queue", _DEFAULT_QUEUE)
    pickled = serialize(obj, *args, **kwargs)
    try:
        task = taskqueue.Task(payload=pickled, **taskargs)
        return task.add(queue, transactional=transactional)
    except taskqueue.TaskTooLargeError:
        pass
    if transactional:
        if not db.is_in_transaction():
            # Refuse before writing: the entity would otherwise stay behind with no task to delete it.
            raise taskqueue.BadTransactionStateError("Transactional adds are not allowed outside of transactions.")
        # In the caller's transaction: the entity and its task commit (or vanish) together.
        key = _DeferredTaskEntity(data=pickled).put()
    else:
        token = apiproxy.current_transaction.set(None)
        try:
            key = _DeferredTaskEntity(data=pickled).put()
        finally:
            apiproxy.current_transaction.reset(token)
    pickled = serialize(run_from_datastore, str(key))
    task = taskqueue.Task(payload=pickled, **taskargs)
    return task.add(queue, transactional=transactional)


# -- the handler ------------------------------------------------------------------------------------

XSRF_MESSAGE = "Detected an attempted XSRF attack. The header 'X-AppEngine-Taskname' was not set."


class TaskHandler:
    """The handler for `/_ah/queue/deferred`, webapp-style: `TaskHandler(environ).post()`."""

    def __init__(self, environ: dict) -> None:
        self.environ = environ

    def run_from_request(self) -> Any:
        """Logs the task headers, then runs the pickled payload in the request body."""
        if log.isEnabledFor(_log_level):
            headers = ["%s:%s" % (k, v) for k, v in self.environ.items() if k.upper().startswith("HTTP_X_APPENGINE_")]
            log.log(_log_level, ", ".join(sorted(headers)))
        length = int(self.environ.get("CONTENT_LENGTH") or 0)
        body = self.environ["wsgi.input"].read(length) if length else b""
        return run(body)

    def post(self) -> Tuple[str, List[Tuple[str, str]], bytes]:
        """(status line, headers, body) as App Engine's handler answers."""
        plain = [("Content-Type", "text/plain")]
        if "HTTP_X_APPENGINE_TASKNAME" not in self.environ:
            log.error(XSRF_MESSAGE)
            return "403 Forbidden", plain, XSRF_MESSAGE.encode()
        try:
            self.run_from_request()
        except SingularTaskFailure:
            log.debug("Failure executing task, task retry forced")
            return "408 Request Timeout", plain, b"SingularTaskFailure"
        except PermanentTaskFailure:
            log.exception("Permanent failure attempting to execute task")
            return "200 OK", plain, b"PermanentTaskFailure"
        except MissingCodeError as exc:
            log.warning("Task %s: %s", self.environ.get("HTTP_X_APPENGINE_TASKNAME"), exc)
            return "500 Internal Server Error", plain, b"Task code not importable yet; it will be retried."
        except Exception as exc:
            name = self.environ.get("HTTP_X_APPENGINE_TASKNAME")
            if self.environ.get("HTTP_X_APPENGINE_TASKRETRYCOUNT", "0") == "0":
                log.error("Task %s failed:\n%s", name, traceback.format_exc())
            else:  # the traceback was shown for the first attempt: one line per retry
                log.debug("Task %s failed again: %s: %s", name, type(exc).__name__, exc)
            return "500 Internal Server Error", plain, b"Task failed; it will be retried."
        return "200 OK", plain, b"Success"


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """The WSGI application for `/_ah/queue/deferred`: POST runs a task, anything else is 405."""
    if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
        start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "text/plain")])
        return [b"Method Not Allowed: deferred tasks are POSTed by the task queue."]
    status, headers, body = TaskHandler(environ).post()
    start_response(status, headers)
    return [body]


def main() -> None:
    """Serves `application` as a CGI script, as App Engine's `deferred.main()` does."""
    from wsgiref.handlers import CGIHandler

    CGIHandler().run(application)
