"""Checks a task must pass before it is stored (B5/B6), and the record a valid task becomes.

Everything here is decided from the task, the queue configuration and the clock, without the
database; name conflicts (AlreadyExists/Tombstoned) are the store's business.

Imports: the standard library, `gae_emu.config.models` and this package's `models`, `errors`.
"""
from __future__ import annotations

import itertools
import time
from typing import Collection, List, Optional, Sequence

from gae_emu.config.models import QueueConfig, QueueDef

from . import errors
from .models import (
    MAX_ETA_SECONDS,
    MAX_HTTP_TASK_SIZE_BYTES,
    MAX_PULL_TASK_SIZE_BYTES,
    MAX_TAG_LENGTH,
    MAX_TASKS_PER_ADD,
    MAX_URL_LENGTH,
    PULL_METHOD,
    PUSH_METHODS,
    HTTP_TARGET_METHODS,
    QUEUE_NAME_PATTERN,
    QUEUE_NAME_RE,
    TASK_NAME_PATTERN,
    TASK_NAME_RE,
    NewTask,
    TaskRecord,
    default_url,
)


# Ascending from the start time in microseconds x 1000, so a later process starts above every name
# an earlier one chose (unless the clock went back), and new rows land at the end of each index.
_auto_names = itertools.count(10**19 + time.time_ns() // 1000 * 1000)


def auto_name() -> str:
    """A fresh task name shaped like production's (a 20-digit number, B4). Names never repeat, so
    auto-named tasks skip the already-exists lookup."""
    return str(next(_auto_names))


def check_batch(tasks: Sequence[NewTask]) -> None:
    """Request-level rules of one add: size of the batch, one queue, one mode, unique names."""
    if not tasks:
        raise errors.InvalidRequestError("No tasks to add.")
    if len(tasks) > MAX_TASKS_PER_ADD:
        raise errors.TooManyTasksError(
            f"No more than {MAX_TASKS_PER_ADD} tasks can be added in a single call; found {len(tasks)}.")
    if len(tasks) == 1:
        return
    if len({t.queue for t in tasks}) > 1:
        raise errors.InvalidRequestError("All tasks of one add must go to the same queue.")
    if len({t.is_pull for t in tasks}) > 1:
        raise errors.InvalidQueueModeError("You cannot add both push and pull tasks in a single call.")
    seen: set = set()
    for task in tasks:
        if task.name:
            if task.name in seen:
                raise errors.DuplicateTaskNameError(
                    f"The task name {task.name!r} is used more than once in the request.")
            seen.add(task.name)


def queue_name(name: str) -> None:
    if not QUEUE_NAME_RE.match(name or ""):
        raise errors.InvalidQueueNameError(f'Queue name does not match pattern "{QUEUE_NAME_PATTERN}"; found {name!r}.')


def queue_for(config: QueueConfig, name: str) -> QueueDef:
    queue_name(name)
    queue = config.get(name)
    if queue is None:
        known = ", ".join(sorted(config.names))
        raise errors.UnknownQueueError(f"Unknown queue {name!r} (queues configured: {known}); add it to queue.yaml.")
    return queue


def check_mode(queue: QueueDef, pull: bool) -> None:
    if pull and queue.mode != "pull":
        raise errors.InvalidQueueModeError(f"Queue {queue.name!r} is a push queue; pull tasks cannot be added to it.")
    if not pull and queue.mode == "pull":
        raise errors.InvalidQueueModeError(f"Queue {queue.name!r} is a pull queue; push tasks cannot be added to it.")


def target_service(target: str) -> str:
    """The service a target names: the last label of `[instance.][version.]service` (B11)."""
    return target.rsplit(".", 1)[-1]


def check_target(target: Optional[str], known: Collection[str]) -> None:
    if target and known and target_service(target) not in known:
        raise errors.UnknownTargetError(
            f"Unknown target {target!r}: the app has the services {', '.join(sorted(known))}.")


def prepare(task: NewTask, queue: QueueDef, now: float, max_push_size: int, known_targets: Collection[str]) -> TaskRecord:
    """The record a task becomes, or a TaskQueueError saying why it cannot be added (the queue
    and the mode were checked for the whole batch by `prepare_all`)."""
    pull = task.is_pull
    method = task.method.upper()
    if not pull and method not in PUSH_METHODS and not (task.http and method in HTTP_TARGET_METHODS):
        raise errors.InvalidRequestError(f"Invalid method: {task.method}")
    if task.name is not None and not TASK_NAME_RE.match(task.name):
        raise errors.InvalidTaskNameError(
            f'The task name does not match expression "{TASK_NAME_PATTERN}"; found {task.name!r}.')
    url = task.url or ("" if pull else default_url(queue.name))
    if len(url) > MAX_URL_LENGTH:
        raise errors.InvalidUrlError(f"The task URL must be less than {MAX_URL_LENGTH} characters; found {len(url)}.")
    if task.http is not None:
        if pull or not url.lower().startswith(("http://", "https://")):
            raise errors.InvalidUrlError(f"An HTTP target's URL must start with http:// or https://; found {url!r}.")
    elif url and not url.startswith("/"):
        raise errors.InvalidUrlError(f'The relative URL path must start with "/"; found {url!r}.')
    eta = now if task.eta is None else float(task.eta)
    if eta < 0:
        raise errors.InvalidEtaError("The task ETA cannot be negative.")
    if eta > now + MAX_ETA_SECONDS:
        raise errors.InvalidEtaError("ETA too far in the future (more than 30 days ahead).")
    limit = MAX_PULL_TASK_SIZE_BYTES if pull else MAX_HTTP_TASK_SIZE_BYTES if task.http else max_push_size
    if task.size > limit:
        raise errors.TaskTooLargeError(f"Task size must be less than {limit}; found {task.size}.")
    if task.tag is not None and len(task.tag.encode("utf-8")) > MAX_TAG_LENGTH:
        raise errors.InvalidTagError(f"Tag must be <= {MAX_TAG_LENGTH} bytes.")
    target = None if pull or task.http else (task.target or queue.target)
    check_target(target, known_targets)
    return TaskRecord(
        queue=queue.name, name=task.name or auto_name(), url=url, method=PULL_METHOD if pull else method,
        headers=tuple(task.headers), payload=bytes(task.payload or b""), eta=eta, created=now, target=target,
        retry=task.retry, tag=task.tag, dispatch_deadline=task.dispatch_deadline, mode="pull" if pull else "push",
        http=None if pull else task.http,
    )


def prepare_all(
    tasks: Sequence[NewTask], config: QueueConfig, now: float, max_push_size: int, known_targets: Collection[str]
) -> List[object]:
    """Per task, its TaskRecord or the TaskQueueError refusing it (after the batch-level checks,
    which raise). Queue-level errors (unknown queue, wrong mode) raise: they concern every task."""
    check_batch(tasks)
    queue = queue_for(config, tasks[0].queue)
    check_mode(queue, tasks[0].is_pull)
    results: List[object] = []
    for task in tasks:
        try:
            results.append(prepare(task, queue, now, max_push_size, known_targets))
        except errors.TaskQueueError as exc:
            results.append(exc)
    return results
