"""One SQLite database per app, in WAL mode, and the one transaction helper every service uses.

Services register their own tables with `ensure_schema` and do all writes inside
`with storage.transaction() as conn:`. Transactions are re-entrant on a thread, so a datastore commit
can add its transactional tasks to the task queue in the *same* SQLite transaction (all or nothing).
Durability: WAL with synchronous=NORMAL survives a process crash (SIGKILL) without losing a committed
transaction; only a power loss can drop the last few commits.

Imports: the standard library only.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

DATABASE_FILENAME = "gae-emu.sqlite3"
PAGE_SIZE = 1024
WAL_AUTOCHECKPOINT_PAGES = 10000  # about 10 MB of WAL between checkpoints (SQLite's default: 1000)


class Storage:
    """A SQLite database file with one connection per thread."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Writers of this process queue here rather than inside SQLite, whose busy handler sleeps
        # 1, 2, 5... ms between retries (it slept hundreds of times in one benchmark drain).
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._schemas: set[str] = set()
        self.connection()  # fail early on a bad path

    @classmethod
    def in_directory(cls, directory: Union[str, Path], clear: bool = False) -> "Storage":
        """Open (creating with mode 0700) the database of an app's storage directory."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        db_path = directory / DATABASE_FILENAME
        if clear:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(str(db_path) + suffix)
                except FileNotFoundError:
                    pass
        return cls(db_path)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: transactions are explicit)."""
        conn: Optional[sqlite3.Connection] = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            # Every commit writes each page it changed to the WAL: small pages make the one-row
            # commits of task adds cheap (this applies to a new database only).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self._local.depth = 0
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested calls on one thread join the outer one."""
        conn = self.connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        self._write_lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            self._local.after_commit = []
            try:
                yield conn
            except BaseException:
                self._local.depth = 0
                self._local.after_commit = []
                conn.execute("ROLLBACK")
                raise
            else:
                self._local.depth = 0
                conn.execute("COMMIT")
        finally:
            self._write_lock.release()
        callbacks, self._local.after_commit = self._local.after_commit, []
        for callback in callbacks:
            callback()

    def write(self, sql: str, rows: Sequence[Sequence]) -> None:
        """Run `sql` once per row, all or nothing: in this thread's open transaction if there is
        one, else a single row as one statement on its own (SQLite commits a lone statement
        atomically: one call instead of BEGIN, statement, COMMIT), else in a new transaction."""
        if len(rows) == 1 and not self.in_transaction():
            conn = self.connection()
            self._write_lock.acquire()
            try:
                conn.execute(sql, rows[0])
            finally:
                self._write_lock.release()
            return
        with self.transaction() as conn:
            conn.executemany(sql, rows)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this thread's open transaction commits (now if none is open);
        dropped on rollback. Lets a service wake readers only when its writes are visible."""
        if self.in_transaction():
            self._local.after_commit.append(callback)
        else:
            callback()

    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create a service's tables once per process (`ddl` must use IF NOT EXISTS)."""
        if name in self._schemas:
            return
        with self._lock:
            if name in self._schemas:
                return
            self.connection().executescript(ddl)
            self._schemas.add(name)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
        self._local = threading.local()
