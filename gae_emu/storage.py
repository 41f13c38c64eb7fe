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

import functools
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar, Union

F = TypeVar("F", bound=Callable[..., Any])

DATABASE_FILENAME = "gae-emu.sqlite3"
PAGE_SIZE = 1024
WAL_AUTOCHECKPOINT_PAGES = 10000  # about 10 MB of WAL between checkpoints (SQLite's default: 1000)
LOCK_TIMEOUT = 2.0  # seconds to wait for another process to let go of the file


QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024  # quick_check reads every page (about 0.1 s for 44 MB here): skip it above
SQLITE_HEADER = b"SQLite format 3\x00"
APPLICATION_ID = 0x67616531  # "gae1" in the header's application id field


class StorageError(RuntimeError):
    """The storage cannot be used; the message is one line for the user (the CLI exits 2)."""


class StorageInUseError(StorageError):
    """Another process (another gae-emu on the same storage folder) holds the database."""


class StorageUnusableError(StorageError):
    """The storage folder or database file cannot be used as it is (read-only, damaged, empty):
    refused at start, and nothing in it is changed."""


class StorageFullError(StorageError):
    """The disk (or the database's size limit) is full: this write was rolled back, nothing is lost,
    and writes work again once there is space. Front doors answer with their transient error."""


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
        new = not os.path.exists(self.path)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=LOCK_TIMEOUT,
                                   cached_statements=512)  # one connection runs every service's statements
        except sqlite3.Error as exc:
            raise StorageUnusableError(_read_only_message(self.path) if _is_read_only(exc) or not _writable(self.path)
                                       else f"{self.path}: cannot open: {exc}") from None
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
            if new:
                # Put SQLite's header in the file now (writes sit in the WAL until a checkpoint), so a
                # 0-byte file is never a database of ours and can be refused as an empty file.
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._check(conn)
        except sqlite3.Error as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StorageInUseError(
                    f"{self.path} is in use by another process (another gae-emu on the same --storage-path?)"
                ) from None
            if _is_read_only(exc) or not _writable(self.path):
                raise StorageUnusableError(_read_only_message(self.path)) from None
            raise StorageUnusableError(_damaged_message(self.path, str(exc))) from None
        return conn

    def _check(self, conn: sqlite3.Connection) -> None:
        """SQLite's own check of a database being opened, cheap enough for every start: the schema
        is read (a damaged header or schema fails here) and, below QUICK_CHECK_MAX_BYTES, every page
        is verified with `PRAGMA quick_check` (measured: 45 ms for 11 MB, 106 ms for 44 MB)."""
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size <= QUICK_CHECK_MAX_BYTES:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(result)

    @classmethod
    def in_directory(cls, directory: Union[str, Path], clear: bool = False) -> "Storage":
        """Open (creating with mode 0700) the database of an app's storage directory.

        StorageUnusableError, with nothing changed, for a folder that cannot be created or written,
        a file that is not a SQLite database or is damaged, and a 0-byte file (SQLite would quietly
        treat it as an empty datastore)."""
        directory = Path(directory)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnusableError(f"cannot create the storage folder {directory}: {exc.strerror or exc}") from None
        db_path = directory / DATABASE_FILENAME
        if not clear:
            _refuse_unusable_file(db_path)
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
        """A write transaction (BEGIN IMMEDIATE); nested calls on one thread join the outer one.
        A full disk rolls the whole transaction back and raises StorageFullError."""
        with self._lock:
            conn = self._conn
            if self.in_transaction():
                self._local.depth += 1
                try:
                    yield conn
                finally:
                    self._local.depth -= 1
                return
            with _full_disk_as_error():
                conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            self._local.after_commit = []
            try:
                with _full_disk_as_error():
                    yield conn
                    self._local.depth = 0
                    conn.execute("COMMIT")
            except BaseException:
                self._local.depth = 0
                self._local.after_commit = []
                if conn.in_transaction:  # SQLite may have rolled back already (e.g. on SQLITE_FULL)
                    conn.execute("ROLLBACK")
                raise
        callbacks, self._local.after_commit = self._local.after_commit, []
        for callback in callbacks:
            callback()

    def write(self, sql: str, rows: Sequence[Sequence]) -> None:
        """Run `sql` once per row, all or nothing: in this thread's open transaction if there is
        one, else a single row as one statement on its own (SQLite commits a lone statement
        atomically: one call instead of BEGIN, statement, COMMIT), else in a new transaction."""
        if len(rows) == 1 and not self.in_transaction():
            with self._lock, _full_disk_as_error():
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


def full_disk_as(error: Callable[[str], Exception]) -> Callable[[F], F]:
    """Decorate a service method so a full disk raises the service's own transient error (task
    queue TransientError, datastore Timeout): the caller sees the API's retryable error."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except StorageFullError as exc:
                raise error(str(exc)) from None

        return wrapper  # type: ignore[return-value]

    return decorate


@contextmanager
def _full_disk_as_error() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == 13 or "database or disk is full" in str(exc):  # SQLITE_FULL
            raise StorageFullError(f"the disk holding the storage is full ({exc}); nothing was written") from None
        raise


def _writable(path: str) -> bool:
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(folder, os.W_OK) and (not os.path.exists(path) or os.access(path, os.W_OK))


def _is_read_only(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (8, 14) or "readonly" in str(exc)  # SQLITE_READONLY, CANTOPEN


def _read_only_message(path: str) -> str:
    return (f"{path}: the storage folder or database file is read-only; gae-emu must write there "
            "(choose another --storage-path, or make it writable)")


def _damaged_message(path: str, detail: str) -> str:
    return (f"{path}: the database is damaged or not a gae-emu database ({detail}); it was left as it is: "
            "move it away (keeping a copy) or start with --clear-datastore")


def _refuse_unusable_file(db_path: Path) -> None:
    """Refuse, before SQLite opens it, a file it would misread: a 0-byte file (unless its WAL holds
    the data, as after a crash before the first checkpoint) or one without SQLite's header."""
    try:
        with open(db_path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageUnusableError(f"{db_path}: cannot read: {exc.strerror or exc}") from None
    if not header:
        wal = Path(str(db_path) + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            return
        raise StorageUnusableError(
            f"{db_path} is an empty (0-byte) file, not a gae-emu database; it was left as it is: remove it "
            "or start with --clear-datastore")
    if header != SQLITE_HEADER:
        raise StorageUnusableError(_damaged_message(str(db_path), "no SQLite header"))
