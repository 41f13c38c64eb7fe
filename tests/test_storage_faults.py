"""Storage faults are one-line errors with exit 2 and nothing changed: a read-only folder, a file that
is not a database, a damaged page (SQLite's quick_check at start), a 0-byte file. A full disk while
serving is StorageFullError, the transaction rolled back, and writes work again when space returns."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gae_emu.storage import DATABASE_FILENAME, PAGE_SIZE, Storage, StorageFullError, StorageUnusableError


def make_app(root: Path) -> Path:
    root.mkdir()
    (root / "main.py").write_text("def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'']\n")
    (root / "app.yaml").write_text(textwrap.dedent("""\
        runtime: python27
        api_version: 1
        threadsafe: true
        handlers:
        - url: /.*
          script: main.app
        """))
    return root


def filled_database(folder: Path, rows: int = 2000) -> Path:
    storage = Storage.in_directory(folder)
    storage.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT);")
    storage.write("INSERT INTO t (v) VALUES (?)", [("x" * 200,) for _ in range(rows)])
    storage.close()
    return folder / DATABASE_FILENAME


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def run_dev(app: Path, storage: Path, prefix: tuple = ()) -> subprocess.CompletedProcess:
    command = [*prefix, sys.executable, "-m", "gae_emu", "dev", str(app), "--no-reload", "--port", "0",
               "--no-admin", "--storage-path", str(storage)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("gae-emu:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_zero_byte_file_is_refused_not_emptied(tmp_path):
    app, storage = make_app(tmp_path / "app"), tmp_path / "storage"
    storage.mkdir()
    (storage / DATABASE_FILENAME).write_bytes(b"")
    assert_refused(run_dev(app, storage), "empty (0-byte) file", "left as it is")
    assert digest(storage) == {DATABASE_FILENAME: hashlib.sha256(b"").hexdigest()}


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path):
    app, storage = make_app(tmp_path / "app"), tmp_path / "storage"
    storage.mkdir()
    (storage / DATABASE_FILENAME).write_bytes(b"not a database at all\n" * 100)
    before = digest(storage)
    assert_refused(run_dev(app, storage), "damaged or not a gae-emu database")
    assert digest(storage) == before


def test_a_damaged_page_is_found_at_start(tmp_path):
    app, storage = make_app(tmp_path / "app"), tmp_path / "storage"
    db = filled_database(storage)
    data = bytearray(db.read_bytes())
    assert len(data) > 20 * PAGE_SIZE
    for page in range(5, len(data) // PAGE_SIZE, 7):  # scribble over a few table pages
        data[page * PAGE_SIZE:page * PAGE_SIZE + 100] = b"\xa5" * 100
    db.write_bytes(bytes(data))
    before = digest(storage)
    assert_refused(run_dev(app, storage), "damaged")
    assert digest(storage) == before


def test_a_sound_database_opens_and_its_header_is_written_at_creation(tmp_path):
    db = filled_database(tmp_path / "s", rows=10)
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    Storage.in_directory(tmp_path / "s").close()


def test_the_directory_form_refuses_a_zero_byte_file_and_clear_starts_afresh(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / DATABASE_FILENAME).write_bytes(b"")
    with pytest.raises(StorageUnusableError, match="empty"):
        Storage.in_directory(tmp_path / "a")
    Storage.in_directory(tmp_path / "a", clear=True).close()  # --clear-datastore starts afresh


def _can_mount() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "none", "/mnt"],
                           capture_output=True)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs mount namespaces (unshare -m) to make a read-only folder")


@needs_mount
def test_read_only_folder_is_one_line_not_disk_io_error(tmp_path):
    app, storage = make_app(tmp_path / "app"), tmp_path / "storage"
    filled_database(storage, rows=10)
    before = digest(storage)
    # A private mount namespace: the folder is bind-mounted read-only for the emulator only.
    script = f'mount --bind "{storage}" "{storage}" && mount -o remount,ro,bind "{storage}" && exec "$@"'
    result = run_dev(app, storage, prefix=("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"))
    assert_refused(result, "read-only")
    assert "disk I/O error" not in result.stderr
    assert digest(storage) == before


@needs_mount
def test_storage_folder_that_cannot_be_created(tmp_path):
    app, parent = make_app(tmp_path / "app"), tmp_path / "ro"
    parent.mkdir()
    script = f'mount -t tmpfs -o ro none "{parent}" && exec "$@"'
    result = run_dev(app, parent / "storage", prefix=("unshare", "-m", "--propagation", "private", "sh", "-c",
                                                      script, "sh"))
    assert_refused(result, "cannot create the storage folder")


def test_full_disk_rolls_back_and_writes_resume_when_space_returns(tmp_path):
    storage = Storage.in_directory(tmp_path / "s")
    storage.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB);")
    storage.write("INSERT INTO t (v) VALUES (?)", [(b"kept",)])
    pages = storage.connection().execute("PRAGMA page_count").fetchone()[0]
    storage.connection().execute(f"PRAGMA max_page_count={pages + 2}")  # SQLite's own SQLITE_FULL, as a full disk
    with pytest.raises(StorageFullError):
        storage.write("INSERT INTO t (v) VALUES (?)", [(b"x" * 20 * PAGE_SIZE,)])
    with pytest.raises(StorageFullError):
        with storage.transaction() as conn:
            conn.execute("INSERT INTO t (v) VALUES (?)", (b"small",))
            conn.execute("INSERT INTO t (v) VALUES (?)", (b"y" * 20 * PAGE_SIZE,))
    assert not storage.in_transaction()
    with storage.read() as conn:
        assert [r[0] for r in conn.execute("SELECT v FROM t")] == [b"kept"]  # the failed transaction left nothing
    storage.connection().execute("PRAGMA max_page_count=1073741823")  # space returns
    storage.write("INSERT INTO t (v) VALUES (?)", [(b"z" * 20 * PAGE_SIZE,)])
    with storage.read() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    storage.close()
