"""Storage: writers of one process take turns; `write` is all or nothing; small pages."""
from __future__ import annotations

import threading

import pytest

from gae_emu.storage import DATABASE_FILENAME, Storage, StorageInUseError


def test_writers_of_one_storage_exclude_each_other(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    storage.connection().execute("CREATE TABLE n (v INTEGER)")
    storage.connection().execute("INSERT INTO n VALUES (0)")

    def bump():
        for _ in range(50):
            with storage.transaction() as conn:
                (v,) = conn.execute("SELECT v FROM n").fetchone()
                conn.execute("UPDATE n SET v = ?", (v + 1,))
    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert storage.connection().execute("SELECT v FROM n").fetchone() == (200,)
    storage.close()


def test_write_is_all_or_nothing_alone_or_inside_a_transaction(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    conn = storage.connection()
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    storage.write("INSERT INTO t VALUES (?)", [("one",)])
    with pytest.raises(Exception):
        storage.write("INSERT INTO t VALUES (?)", [("two",), ("one",)])  # the second row clashes
    with pytest.raises(RuntimeError):
        with storage.transaction():
            storage.write("INSERT INTO t VALUES (?)", [("three",)])
            raise RuntimeError("roll back")
    assert [r[0] for r in conn.execute("SELECT k FROM t")] == ["one"]
    storage.close()


def test_new_databases_use_small_pages(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    assert storage.connection().execute("PRAGMA page_size").fetchone() == (1024,)
    assert storage.connection().execute("PRAGMA journal_mode").fetchone() == ("wal",)
    storage.close()


def test_a_second_user_of_the_file_is_refused_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr("gae_emu.storage.LOCK_TIMEOUT", 0.1)
    first = Storage.in_directory(tmp_path)
    with pytest.raises(StorageInUseError, match="in use by another process"):
        Storage.in_directory(tmp_path)
    with pytest.raises(StorageInUseError):
        Storage.in_directory(tmp_path, clear=True)  # and its files are left alone
    assert (tmp_path / DATABASE_FILENAME).exists()
    first.close()
    Storage.in_directory(tmp_path).close()  # free again once the owner closed it


def test_other_threads_never_see_an_open_transaction(tmp_path):
    storage = Storage(tmp_path / "db.sqlite3")
    storage.connection().execute("CREATE TABLE t (k TEXT)")
    inside, seen = threading.Event(), []

    def reader():
        inside.wait(5)
        with storage.read() as conn:  # waits for the transaction to end
            seen.append(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])
    t = threading.Thread(target=reader)
    t.start()
    with pytest.raises(RuntimeError):
        with storage.transaction() as conn:
            conn.execute("INSERT INTO t VALUES ('uncommitted')")
            inside.set()
            t.join(0.2)  # the reader is blocked meanwhile
            assert seen == []
            raise RuntimeError("roll back")
    t.join(5)
    assert seen == [0]
    storage.close()
