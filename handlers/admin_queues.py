"""What the admin console does with task queues: describe them, run or delete a task, purge, reset,
run everything due, wait until idle. Pages and the JSON API both call these functions.

State lives in the services (`gae_emu.apiproxy.current()`); tasks run through the dispatcher's
`execute` (the emulator's `TaskDelivery`), so a task run from the console goes through the router,
app.yaml order and login rules like any other attempt, and its outcome is recorded by the service's
`complete` (success tombstones it, failure schedules a retry).

Imports: the standard library, werkzeug.exceptions, `gae_emu.apiproxy`, `gae_emu.ext.deferred_inspect`,
`gae_emu.services.taskqueue`.
"""
from __future__ import annotations

import base64
import time
from typing import Any, Callable, Dict, List, Optional

from werkzeug.exceptions import Conflict, NotFound, ServiceUnavailable

from gae_emu import apiproxy
from gae_emu.ext.deferred_inspect import try_describe
from gae_emu.config.models import DEFERRED_URL
from gae_emu.services.taskqueue import errors
from gae_emu.services.taskqueue.models import TaskRecord, default_url


PREVIEW_BYTES = 500
POLL_SECONDS = 0.02  # how often wait/run loops look at the queues again


def _services() -> apiproxy.Services:
    return apiproxy.current()


def _dispatcher() -> Any:
    dispatcher = _services().settings.get("dispatcher")
    if dispatcher is None:
        raise ServiceUnavailable("No task dispatcher is running in this process.")
    return dispatcher


def _header(headers: Any, name: str) -> Optional[str]:
    return next((v for k, v in headers if k.lower() == name), None)


def is_deferred(task: TaskRecord) -> bool:
    if (task.url or "").partition("?")[0] == DEFERRED_URL:
        return True
    return task.payload[:1] == b"\x80" and _header(task.headers, "content-type") == "application/octet-stream"


def task_dict(task: TaskRecord) -> Dict[str, Any]:
    """One task as the API and pages show it (the payload is described, never unpickled)."""
    deferred = try_describe(task.payload) if task.payload and is_deferred(task) else None
    preview = None
    if task.payload and deferred is None:
        preview = task.payload[:PREVIEW_BYTES].decode("utf-8", "replace")
    return {
        "name": task.name,
        "queue": task.queue,
        "url": task.url or default_url(task.queue),
        "method": task.method,
        "eta": task.eta,
        "created": task.created,
        "retry_count": task.retry_count,
        "execution_count": task.execution_count,
        "last_response": task.last_response,
        "headers": [[k, v] for k, v in task.headers],
        "payload_size": len(task.payload),
        "payload_preview": preview,
        "target": task.target,
        "tag": task.tag,
        "in_flight": task.in_flight,
        "mode": task.mode,
        "deferred": deferred,
    }


def queue_dicts() -> List[Dict[str, Any]]:
    """Every configured queue (and any still holding tasks), with its statistics."""
    stats = _services().taskqueue.stats()
    return [
        {
            "name": s.queue,
            "mode": s.mode,
            "rate": s.rate,
            "tasks": s.tasks,
            "oldest_eta": s.oldest_eta,
            "in_flight": s.in_flight,
            "executed_last_minute": s.executed_last_minute,
            "failures": s.failures,  # gave up after their retry limits (since start)
            "failing": s.failed,  # still queued after at least one failed attempt
            "max_concurrent_requests": s.max_concurrent_requests,
            "paused": s.paused,
            "source": "Cloud Tasks API" if s.api else "queue.yaml",
        }
        for s in sorted(stats.values(), key=lambda s: s.queue)
    ]


def queue_dict(queue: str) -> Dict[str, Any]:
    for entry in queue_dicts():
        if entry["name"] == queue:
            return entry
    raise NotFound(f"No queue named {queue!r}.")


def tasks(queue: str, offset: int = 0, limit: int = 100, payloads: bool = False) -> List[Dict[str, Any]]:
    queue_dict(queue)  # 404 for an unknown queue rather than an empty list
    listed = _services().taskqueue.list_tasks(queue, limit=limit, offset=offset)
    if not payloads:
        return [task_dict(t) for t in listed]
    return [{**task_dict(t), "payload_base64": base64.b64encode(t.payload).decode("ascii")} for t in listed]


def tombstones(queue: str) -> List[Dict[str, Any]]:
    queue_dict(queue)
    return [{"name": name, "created": created} for name, created in _services().taskqueue.tombstones(queue)]


def paused() -> bool:
    return bool(_dispatcher().paused)


# -- changing state ---------------------------------------------------------------------------------


def run_task(queue: str, name: str) -> Dict[str, Any]:
    """Run one task now on this thread and record the attempt; returns {"status": HTTP status}."""
    queue_dict(queue)
    dispatcher = _dispatcher()
    service = _services().taskqueue
    try:
        task = service.claim_task(queue, name)
    except errors.UnknownTaskError as exc:
        raise NotFound(str(exc)) from None
    except errors.TaskQueueError as exc:
        raise Conflict(str(exc)) from None
    try:
        status = int(dispatcher.execute(task))
    except Exception:  # the handler's failure is the task's failure (status 0), never a console 500
        status = 0
    service.complete([(task, status)], service.clock())
    dispatcher.notify()  # a retry may now be scheduled: let the dispatcher look at it
    return {"status": status}


def delete_task(queue: str, name: str) -> Dict[str, Any]:
    queue_dict(queue)
    service = _services().taskqueue
    (error,) = service.delete(queue, [name])
    if error is not None:
        raise NotFound(str(error))
    service.clear_tombstones(queue, [name])  # the console's delete discards the name (B6)
    return {"deleted": name}


def purge(queue: str) -> Dict[str, Any]:
    """The console's purge also forgets the queue's tombstones (B6: admin FlushQueue)."""
    queue_dict(queue)
    service = _services().taskqueue
    removed = service.purge(queue)
    service.clear_tombstones(queue)
    return {"purged": removed}


def reset() -> Dict[str, Any]:
    """Empty the datastore, every queue, every tombstone, memcache, the sent mail and the blobs."""
    services = _services()
    services.taskqueue.reset()
    services.datastore.reset()
    if services.memcache is not None:
        services.memcache.flush()
    if services.mail is not None:
        services.mail.reset()
    if services.blobstore is not None:
        services.blobstore.reset()
    return {"reset": True}


# -- waiting ------------------------------------------------------------------------------------------


def _busy_queues(include_due: bool) -> List[str]:
    """Push queues with a task in flight or (with include_due) a task whose eta has come or that
    waits for a retry: a failing task keeps its queue busy, so waiting for it reports it stuck.

    One statistics query answers it, so the answer is one consistent snapshot: a task between
    two attempts is never missed by reading "in flight" and "due" at different moments."""
    service = _services().taskqueue
    now = service.clock()
    return [s.queue for s in service.stats().values() if s.mode != "pull" and (
        s.in_flight or (include_due and (s.retrying or (s.oldest_eta is not None and s.oldest_eta <= now))))]


def _stuck(queues: List[str], include_due: bool) -> List[Dict[str, Any]]:
    """The tasks to name when waiting timed out (all of a busy queue's if none matches by now)."""
    service = _services().taskqueue
    now = service.clock()
    found: List[Dict[str, Any]] = []
    for queue in queues:
        listed = service.list_tasks(queue, limit=1000)
        matching = [t for t in listed if t.in_flight or (include_due and (t.eta <= now or t.retry_count > 0))]
        found += [task_dict(t) for t in (matching or listed)]
    return found


def _until(timeout: float, include_due: bool, step: Callable[[float], None]) -> Dict[str, Any]:
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        step(max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
        busy = _busy_queues(include_due)
        if not busy:
            return {"idle": True, "stuck": []}
        if time.monotonic() >= deadline:
            return {"idle": False, "stuck": _stuck(busy, include_due)}


def run_due(timeout: float) -> Dict[str, Any]:
    """Run every due task on this thread (paused dispatcher or not) until none is due or running."""
    dispatcher = _dispatcher()
    service = _services().taskqueue

    def step(wait: float) -> None:
        if not service.run_due(None, dispatcher.execute):
            time.sleep(wait)  # tasks still running on the dispatcher's threads

    return _until(timeout, True, step)


def wait_idle(timeout: float) -> Dict[str, Any]:
    """Wait until no task is due or in flight (when paused: until none is in flight)."""
    dispatcher = _dispatcher()

    def step(wait: float) -> None:
        # The dispatcher's idle flag is a hint; the queues themselves are checked after it.
        if dispatcher.wait_until_idle(wait):
            time.sleep(POLL_SECONDS / 4)

    return _until(timeout, not dispatcher.paused, step)
