"""Pull-queue operations, mixed into `TaskQueueService`: lease tasks (optionally grouped by tag)
and modify a lease. As in production, a leased task's eta *is* its lease expiry, a lease counts as
a retry, and a task whose retry limit is used up is deleted at lease time (B7).

Imports: the standard library, `gae_emu.storage`, `gae_emu.config.models` and this package's
`errors`, `models`, `retry`, `store`, `validate`.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable, List, Optional

from gae_emu.config.models import QueueConfig, QueueDef
from gae_emu.storage import Storage

from . import errors, retry, store, validate
from .models import MAX_LEASE_SECONDS, MAX_TASKS_PER_LEASE, TaskRecord

log = logging.getLogger("gae_emu.taskqueue")

# Two etas closer than this are the same lease (clients round them to microseconds).
_ETA_TOLERANCE = 1e-6


class PullQueueOps:
    storage: Storage
    queue_config: Callable[[], QueueConfig]
    clock: Callable[[], float]

    def _pull_queue(self, name: str) -> QueueDef:
        queue = validate.queue_for(self.queue_config(), name)
        if queue.mode != "pull":
            raise errors.InvalidQueueModeError(f"Queue {name!r} is a push queue; only pull queues can be leased from.")
        return queue

    @staticmethod
    def _check_lease_seconds(lease_seconds: float) -> None:
        if not 0 <= lease_seconds <= MAX_LEASE_SECONDS:
            raise errors.InvalidRequestError(f"lease_seconds must be between 0 and {MAX_LEASE_SECONDS}.")

    def lease_tasks(
        self, queue: str, lease_seconds: float, max_tasks: int, tag: Optional[str] = None, group_by_tag: bool = False
    ) -> List[TaskRecord]:
        """Lease up to `max_tasks` tasks whose eta has passed, earliest first. With
        `group_by_tag`, only tasks carrying `tag` (or, if None, the tag of the oldest task)."""
        queue_def = self._pull_queue(queue)
        self._check_lease_seconds(lease_seconds)
        if not 0 < max_tasks <= MAX_TASKS_PER_LEASE:
            raise errors.InvalidRequestError(f"max_tasks must be between 1 and {MAX_TASKS_PER_LEASE}.")
        if tag is not None and not group_by_tag:
            raise errors.InvalidRequestError("Tag specified, but group_by_tag was not.")
        now = self.clock()
        with self.storage.transaction() as conn:
            due = "queue = ? AND eta <= ?"
            if group_by_tag and tag is None:
                oldest = store.select_tasks(conn, f"{due} ORDER BY eta LIMIT 1", (queue, now))
                if not oldest:
                    return []
                tag = oldest[0].tag
            if group_by_tag:
                candidates = store.select_tasks(conn, f"{due} AND tag IS ? ORDER BY eta LIMIT ?", (queue, now, tag, max_tasks))
            else:
                candidates = store.select_tasks(conn, f"{due} ORDER BY eta LIMIT ?", (queue, now, max_tasks))
            leased: List[TaskRecord] = []
            exhausted = []
            for task in candidates:
                policy = retry.resolve(task.retry, queue_def.retry_parameters)
                if not policy.can_retry(task.retry_count + 1, 0):
                    log.warning("Task %s in queue %s cannot be leased again after %d leases.",
                                task.name, queue, task.retry_count)
                    exhausted.append(store.key(task))
                    continue
                leased.append(replace(task, eta=now + lease_seconds, retry_count=task.retry_count + 1,
                                      execution_count=task.execution_count + 1))
            store.delete_and_tombstone(conn, exhausted, now)
            conn.executemany(
                "UPDATE tq_tasks SET eta = ?, retry_count = ?, execution_count = ? "
                f"WHERE {store.KEY_WHERE}",
                [(t.eta, t.retry_count, t.execution_count, *store.key(t)) for t in leased])
        return leased

    def modify_lease(self, queue: str, name: str, eta: float, lease_seconds: float) -> float:
        """Extend (or with 0, end) the lease of a task leased with expiry `eta`; returns the new eta.
        TaskLeaseExpiredError when the lease has passed or someone else holds a newer one."""
        self._pull_queue(queue)
        self._check_lease_seconds(lease_seconds)
        now = self.clock()
        with self.storage.transaction() as conn:
            rows = store.select_tasks(conn, "queue = ? AND name = ?", (queue, name))
            if not rows:
                if store.tombstoned_names(conn, queue, [name], float("-inf")):
                    raise errors.TombstonedTaskError(f"Task {name!r} was already deleted.")
                raise errors.UnknownTaskError(f"No task {name!r} in queue {queue!r}.")
            task = rows[0]
            if abs(task.eta - eta) > _ETA_TOLERANCE or task.eta < now:
                raise errors.TaskLeaseExpiredError(f"The lease on task {name!r} has expired.")
            new_eta = now + lease_seconds
            conn.execute(f"UPDATE tq_tasks SET eta = ? WHERE {store.KEY_WHERE}", (new_eta, *store.key(task)))
        return new_eta
