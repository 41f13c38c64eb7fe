"""One SQLite database per app, in WAL mode, held by this process alone, and the one transaction
helper every service uses.

Services register their own tables with `ensure_schema`, write inside
`with storage.transaction() as conn:` (or `storage.write(...)`) and read inside
`with storage.read() as conn:`. Transactions are re-entrant on a thread, so a datastore commit can
add its transactional tasks to the task queue in the *same* SQLite transaction (all or nothing).

One connection serves every thread, in locking_mode=EXCLUSIVE: the process takes the file lock
once and keeps the WAL index in its own memory, so a commit makes no lock calls at all (on this
kind of machine those were about 6 of a one-row commit's 15 system calls). A re-entrant lock lets
one thread at a time use the connection, so no thread sees another's open transaction. A second
process on the same storage folder gets `StorageInUseError` within LOCK_TIMEOUT seconds.

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
from typing import Callable, Iterator, Sequence, Union

DATABASE_FILENAME = "gae-emu.sqlite3"
PAGE_SIZE = 1024
WAL_AUTOCHECKPOINT_PAGES = 10000  # about 10 MB of WAL between checkpoints (SQLite's default: 1000)
LOCK_TIMEOUT = 2.0  # seconds to wait for another process to let go of the file


class StorageInUseError(RuntimeError):
    """Another process (another gae-emu on the same storage folder) holds the database."""


class Storage:
    """A SQLite database file and the one connection this process uses for it."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = str(path)
        self._local = threading.local()  # per thread: transaction depth and after-commit callbacks
        # Whoever holds this may use the connection; a thread in a transaction holds it throughout.
        self._lock = threading.RLock()
        self._schemas: set[str] = set()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=LOCK_TIMEOUT,
                               cached_statements=512)  # one connection runs every service's statements
        try:
            # Every commit writes each page it changed to the WAL: small pages make the one-row
            # commits of task adds cheap (this applies to a new database only).
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")  # before WAL: the WAL index lives in memory
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("BEGIN IMMEDIATE")  # take the file lock now, not at the first write
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StorageInUseError(
                    f"{self.path} is in use by another process (another gae-emu on the same --storage-path?)"
                ) from None
            raise
        return conn

    @classmethod
    def in_directory(cls, directory: Union[str, Path], clear: bool = False) -> "Storage":
        """Open (creating with mode 0700) the database of an app's storage directory."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        db_path = directory / DATABASE_FILENAME
        if clear:
            if db_path.exists():
                cls(db_path).close()  # StorageInUseError rather than pull the files from under its owner
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.remove(str(db_path) + suffix)
                except FileNotFoundError:
                    pass
        return cls(db_path)

    def connection(self) -> sqlite3.Connection:
        """The connection (autocommit mode: transactions are explicit). Use it inside `read()` or
        `transaction()` when other threads may use the storage too."""
        return self._conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads that see only committed data (or this thread's own open
        transaction). Fetch everything inside the block."""
        with self._lock:
            yield self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested calls on one thread join the outer one."""
        with self._lock:
            conn = self._conn
            if self.in_transaction():
                self._local.depth += 1
                try:
                    yield conn
                finally:
                    self._local.depth -= 1
                return
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
        callbacks, self._local.after_commit = self._local.after_commit, []
        for callback in callbacks:
            callback()

    def write(self, sql: str, rows: Sequence[Sequence]) -> None:
        """Run `sql` once per row, all or nothing: in this thread's open transaction if there is
        one, else a single row as one statement on its own (SQLite commits a lone statement
        atomically: one call instead of BEGIN, statement, COMMIT), else in a new transaction."""
        if len(rows) == 1 and not self.in_transaction():
            with self._lock:
                self._conn.execute(sql, rows[0])
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
        with self._lock:
            if name not in self._schemas:
                self._conn.executescript(ddl)
                self._schemas.add(name)

    def close(self) -> None:
        """Close the connection, which lets go of the file."""
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
