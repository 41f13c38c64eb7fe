"""`QueueRegistry`: the queues created through the Cloud Tasks API and the run state (paused, last
purge) of every queue, persisted beside the tasks. `current()` merges them with queue.yaml's queues
into the one `QueueConfig` the service, the dispatcher, the legacy API and the admin console read.

queue.yaml stays the source of its own queues: an edit applies live, as before, and such a queue
cannot be redefined or deleted through the API here (docs/differences.md); it can be paused,
resumed and purged. An API queue lives in `tq_queues` until deleted; its name is then held for
`recreate_delay` seconds, as production refuses to re-create a queue deleted too recently. If a
queue.yaml edit later defines a queue of the same name, queue.yaml's definition wins.

One process holds the database (storage.py), so the rows are read once and kept in memory: adding
a task costs no query here, and `current()` rebuilds the merged config only when queue.yaml or a
row changed.

Imports: the standard library, `gae_emu.storage`, `gae_emu.config.models` and this package's `errors`.
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, replace
from typing import Callable, Dict, Optional, Tuple

from gae_emu.config.models import QueueConfig, QueueDef, RetryParameters
from gae_emu.storage import Storage

from . import errors

SCHEMA_NAME = "taskqueue.queues.v1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tq_queues (
    name TEXT PRIMARY KEY,
    definition TEXT,
    paused INTEGER NOT NULL DEFAULT 0,
    purge_time REAL,
    deleted REAL
) WITHOUT ROWID;
"""
# Production holds a deleted queue's name for "a tombstone window of up to 3 days".
RECREATE_DELAY_SECONDS = 3 * 86400
# Fields of an API queue's definition that are stored (run state has its own columns).
_STATE_FIELDS = ("name", "paused", "api", "purge_time")


@dataclass
class _Row:
    definition: Optional[QueueDef] = None  # an API queue's definition; None: state of a queue.yaml queue
    paused: bool = False
    purge_time: Optional[float] = None
    deleted: Optional[float] = None


def _to_json(queue: QueueDef) -> str:
    fields = {k: v for k, v in asdict(queue).items() if k not in _STATE_FIELDS and v is not None}
    return json.dumps(fields, sort_keys=True)


def _from_json(name: str, text: str) -> QueueDef:
    fields = json.loads(text)
    retry = fields.pop("retry_parameters", None)
    return QueueDef(name=name, retry_parameters=RetryParameters(**retry) if retry else None, **fields)


class QueueRegistry:
    def __init__(self, storage: Storage, base: Callable[[], QueueConfig], clock: Callable[[], float],
                 recreate_delay: float = RECREATE_DELAY_SECONDS) -> None:
        self.storage = storage
        self.base = base
        self.clock = clock
        self.recreate_delay = recreate_delay
        self._lock = threading.Lock()
        storage.ensure_schema(SCHEMA_NAME, SCHEMA)
        self._rows: Dict[str, _Row] = {}
        with storage.read() as conn:
            for name, definition, paused, purge_time, deleted in conn.execute(
                    "SELECT name, definition, paused, purge_time, deleted FROM tq_queues"):
                self._rows[name] = _Row(_from_json(name, definition) if definition else None, bool(paused),
                                        purge_time, deleted)
        self._version = 0
        self._cache: Optional[Tuple[QueueConfig, int, QueueConfig]] = None

    # -- reading ----------------------------------------------------------------------------------

    def current(self) -> QueueConfig:
        """queue.yaml's queues with their run state, then the API queues, in creation order."""
        base = self.base()
        cache = self._cache
        if cache is not None and cache[0] is base and cache[1] == self._version:
            return cache[2]
        with self._lock:
            version, rows = self._version, dict(self._rows)
        queues = []
        for queue in base.queues:
            row = rows.get(queue.name)
            queues.append(self._with_state(queue, row) if row is not None else queue)
        for name, row in rows.items():
            if row.definition is not None and row.deleted is None and base.get(name) is None:
                queues.append(self._with_state(row.definition, row, api=True))
        merged = replace(base, queues=tuple(queues))
        self._cache = (base, version, merged)
        return merged

    @staticmethod
    def _with_state(queue: QueueDef, row: _Row, api: bool = False) -> QueueDef:
        return replace(queue, paused=row.paused, purge_time=row.purge_time, api=api)

    def get(self, name: str) -> Optional[QueueDef]:
        return self.current().get(name)

    # -- writing ----------------------------------------------------------------------------------

    def _save(self, name: str, row: Optional[_Row]) -> None:
        with self.storage.transaction() as conn:
            if row is None:
                conn.execute("DELETE FROM tq_queues WHERE name = ?", (name,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO tq_queues (name, definition, paused, purge_time, deleted) VALUES (?, ?, ?, ?, ?)",
                    (name, _to_json(row.definition) if row.definition else None, int(row.paused), row.purge_time,
                     row.deleted))
        with self._lock:
            if row is None:
                self._rows.pop(name, None)
            else:
                self._rows[name] = row
            self._version += 1

    def _row(self, name: str) -> _Row:
        with self._lock:
            row = self._rows.get(name)
        return replace(row) if row is not None else _Row()

    def create(self, queue: QueueDef) -> QueueDef:
        """A new API queue; QueueAlreadyExistsError, or QueueRecentlyDeletedError within the
        recreate delay of deleting one of that name."""
        if self.get(queue.name) is not None:
            raise errors.QueueAlreadyExistsError(f"Queue {queue.name!r} already exists.")
        row = self._row(queue.name)
        if row.deleted is not None and self.clock() < row.deleted + self.recreate_delay:
            raise errors.QueueRecentlyDeletedError(f"Queue {queue.name!r} was deleted too recently to be re-created.")
        self._save(queue.name, _Row(definition=self._clean(queue)))
        return self.get(queue.name)  # type: ignore[return-value]

    def update(self, queue: QueueDef) -> QueueDef:
        """Replace an API queue's definition, keeping its run state; create it if there is none."""
        existing = self.get(queue.name)
        if existing is None:
            return self.create(queue)
        if not existing.api:
            raise errors.QueueNotEditableError(
                f"Queue {queue.name!r} is defined in queue.yaml; edit queue.yaml to change it.")
        row = self._row(queue.name)
        row.definition = self._clean(queue)
        self._save(queue.name, row)
        return self.get(queue.name)  # type: ignore[return-value]

    def delete(self, name: str) -> None:
        """Forget an API queue (its tasks are the service's business) and hold its name."""
        existing = self.get(name)
        if existing is None:
            raise errors.UnknownQueueError(f"Unknown queue {name!r}.")
        if not existing.api:
            raise errors.QueueNotEditableError(f"Queue {name!r} is defined in queue.yaml; remove it there to delete it.")
        self._save(name, _Row(deleted=self.clock()))

    def set_state(self, name: str, *, paused: Optional[bool] = None, purge_time: Optional[float] = None) -> QueueDef:
        if self.get(name) is None:
            raise errors.UnknownQueueError(f"Unknown queue {name!r}.")
        row = self._row(name)
        if paused is not None:
            row.paused = paused
        if purge_time is not None:
            row.purge_time = purge_time
        self._save(name, row)
        return self.get(name)  # type: ignore[return-value]

    @staticmethod
    def _clean(queue: QueueDef) -> QueueDef:
        return replace(queue, paused=False, api=False, purge_time=None)
