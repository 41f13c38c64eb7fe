"""The task queue's tables and the SQL that reads and writes them; no queue rules live here.

`tq_tasks` holds queued tasks (push and pull), keyed by (queue, name). `in_flight` is 0 for a task
waiting to run, else the claim number of the dispatch attempt running it (claims are set-based:
one UPDATE marks a batch, one SELECT reads it back, with no RETURNING so older SQLite works).
Every add is its own write transaction, so each index costs every add a page write: besides the
key, one index, `tq_tasks_due` (queue, in_flight, eta), serves the due lookups and, per queue,
the in-flight counts and claim read-backs.
`tq_tombstones` keeps the names of tasks that ran or were deleted, with the time they became
tombstones, so expiry is a cutoff on that column.

Imports: the standard library, `gae_emu.config.models` and this package's `models` only.
"""
from __future__ import annotations

import functools
import json
import sqlite3
from typing import Iterable, List, Optional, Sequence, Tuple

from gae_emu.config.models import RetryParameters

from .models import HttpTarget, TaskRecord

SCHEMA_NAME = "taskqueue.v1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tq_tasks (
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    headers TEXT NOT NULL,
    payload BLOB NOT NULL,
    eta REAL NOT NULL,
    created REAL NOT NULL,
    target TEXT,
    retry TEXT,
    retry_count INTEGER NOT NULL DEFAULT 0,
    execution_count INTEGER NOT NULL DEFAULT 0,
    first_try REAL,
    last_response INTEGER,
    tag TEXT,
    dispatch_deadline REAL,
    in_flight INTEGER NOT NULL DEFAULT 0,
    mode TEXT NOT NULL DEFAULT 'push',
    http_target TEXT,
    PRIMARY KEY (queue, name)
);
CREATE INDEX IF NOT EXISTS tq_tasks_due ON tq_tasks (queue, in_flight, eta);
DROP INDEX IF EXISTS tq_tasks_flight;
CREATE TABLE IF NOT EXISTS tq_tombstones (
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (queue, name)
) WITHOUT ROWID;
"""

COLUMNS = (
    "queue, name, url, method, headers, payload, eta, created, target, retry, retry_count, "
    "execution_count, first_try, last_response, tag, dispatch_deadline, in_flight, mode, http_target"
)
_PLACEHOLDERS = ", ".join("?" * len(COLUMNS.split(", ")))

# Key of one task row for updates: the created time guards against a name that was re-added after
# its tombstone was cleared while the old attempt was still running.
KEY_WHERE = "queue = ? AND name = ? AND created = ?"


def _retry_to_json(retry: Optional[RetryParameters]) -> Optional[str]:
    if retry is None:
        return None
    return json.dumps({k: v for k, v in vars(retry).items() if v is not None}, sort_keys=True)


def _retry_from_json(text: Optional[str]) -> Optional[RetryParameters]:
    return None if text is None else RetryParameters(**json.loads(text))


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a database of an earlier version up to SCHEMA (columns added since)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(tq_tasks)")}
    if "http_target" not in columns:
        conn.execute("ALTER TABLE tq_tasks ADD COLUMN http_target TEXT")


def _http_to_json(http: Optional[HttpTarget]) -> Optional[str]:
    if http is None:
        return None
    return json.dumps({k: v for k, v in vars(http).items() if v is not None}, sort_keys=True)


def _http_from_json(text: Optional[str]) -> Optional[HttpTarget]:
    return None if text is None else HttpTarget(**json.loads(text))


@functools.lru_cache(maxsize=512)
def _headers_to_json(headers: Tuple[Tuple[str, str], ...]) -> str:
    # Tasks of one app mostly carry the same few header sets (deferred's, per Host).
    return json.dumps([list(h) for h in headers])


def to_row(record: TaskRecord) -> tuple:
    return (
        record.queue, record.name, record.url, record.method,
        _headers_to_json(record.headers), record.payload, record.eta, record.created,
        record.target, _retry_to_json(record.retry), record.retry_count, record.execution_count,
        record.first_try, record.last_response, record.tag, record.dispatch_deadline,
        1 if record.in_flight else 0, record.mode, _http_to_json(record.http),
    )


def from_row(row: Sequence) -> TaskRecord:
    return TaskRecord(
        queue=row[0], name=row[1], url=row[2], method=row[3],
        headers=tuple((k, v) for k, v in json.loads(row[4])), payload=bytes(row[5]), eta=row[6],
        created=row[7], target=row[8], retry=_retry_from_json(row[9]), retry_count=row[10],
        execution_count=row[11], first_try=row[12], last_response=row[13], tag=row[14],
        dispatch_deadline=row[15], in_flight=bool(row[16]), mode=row[17], http=_http_from_json(row[18]),
    )


def key(record: TaskRecord) -> Tuple[str, str, float]:
    return (record.queue, record.name, record.created)


INSERT_TASK = f"INSERT INTO tq_tasks ({COLUMNS}) VALUES ({_PLACEHOLDERS})"


def insert_tasks(conn: sqlite3.Connection, records: Iterable[TaskRecord]) -> None:
    conn.executemany(INSERT_TASK, [to_row(r) for r in records])


def existing_names(conn: sqlite3.Connection, queue: str, names: Sequence[str]) -> set:
    found: set = set()
    for chunk in _chunks(list(names), 500):
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(
            f"SELECT name FROM tq_tasks WHERE queue = ? AND name IN ({marks})", (queue, *chunk)))
    return found


def tombstoned_names(conn: sqlite3.Connection, queue: str, names: Sequence[str], since: float) -> set:
    found: set = set()
    for chunk in _chunks(list(names), 500):
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(
            f"SELECT name FROM tq_tombstones WHERE queue = ? AND created >= ? AND name IN ({marks})",
            (queue, since, *chunk)))
    return found


def add_tombstones(conn: sqlite3.Connection, entries: Iterable[Tuple[str, str]], now: float) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO tq_tombstones (queue, name, created) VALUES (?, ?, ?)",
        [(q, n, now) for q, n in entries])


def delete_and_tombstone(conn: sqlite3.Connection, keys: Sequence[Tuple[str, str, float]], now: float) -> None:
    conn.executemany(f"DELETE FROM tq_tasks WHERE {KEY_WHERE}", keys)
    add_tombstones(conn, ((q, n) for q, n, _ in keys), now)


def select_tasks(conn: sqlite3.Connection, where: str, params: Sequence = ()) -> List[TaskRecord]:
    return [from_row(r) for r in conn.execute(f"SELECT {COLUMNS} FROM tq_tasks WHERE {where}", params)]


def claim(
    conn: sqlite3.Connection, slots: Sequence[Tuple[str, int]], now: float, token: int, limit: int
) -> List[TaskRecord]:
    """Mark in flight (with claim number `token`) at most `limit` due tasks, earliest eta first,
    taking at most `slots[i][1]` from queue `slots[i][0]`; set first_try on a first attempt."""
    slots = [(q, n) for q, n in slots if n > 0]
    if not slots or limit <= 0:
        return []
    part = "SELECT * FROM (SELECT rowid AS rid, eta FROM tq_tasks WHERE queue = ? AND in_flight = 0 AND eta <= ? ORDER BY eta LIMIT ?)"
    params: list = []
    for queue, n in slots:
        params += [queue, now, n]
    conn.execute(
        f"UPDATE tq_tasks SET in_flight = ?, first_try = COALESCE(first_try, ?) WHERE rowid IN "
        f"(SELECT rid FROM ({' UNION ALL '.join([part] * len(slots))}) ORDER BY eta LIMIT ?)",
        [token, now, *params, limit])
    queues = [q for q, _ in slots]
    claimed = select_tasks(conn, f"queue IN ({','.join('?' * len(queues))}) AND in_flight = ?", (*queues, token))
    claimed.sort(key=lambda r: r.eta)
    return claimed


def release(conn: sqlite3.Connection, keys: Sequence[Tuple[str, str, float]]) -> None:
    """Put claimed tasks back untouched (a dispatcher stopping before it ran them)."""
    conn.executemany(
        "UPDATE tq_tasks SET in_flight = 0, first_try = CASE WHEN retry_count = 0 THEN NULL ELSE first_try END "
        f"WHERE {KEY_WHERE}", keys)


def in_flight_counts(conn: sqlite3.Connection, queues: Sequence[str]) -> dict:
    """Tasks in flight per queue of `queues`: a range of tq_tasks_due per queue (claim numbers
    are positive), never a scan of the waiting backlog."""
    if not queues:
        return {}
    return dict(conn.execute(
        f"SELECT queue, COUNT(*) FROM tq_tasks INDEXED BY tq_tasks_due WHERE queue IN ({','.join('?' * len(queues))}) "
        "AND in_flight > 0 GROUP BY queue", list(queues)))


def earliest_eta(conn: sqlite3.Connection, queues: Sequence[str]) -> Optional[float]:
    """Earliest eta of a task waiting to run in any of `queues` (one indexed lookup per queue)."""
    if not queues:
        return None
    part = "SELECT MIN(eta) AS m FROM tq_tasks WHERE queue = ? AND in_flight = 0"
    row = conn.execute(f"SELECT MIN(m) FROM ({' UNION ALL '.join([part] * len(queues))})", list(queues)).fetchone()
    return row[0]


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
