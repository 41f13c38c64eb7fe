"""Storage: the write lock hands over in arrival order; `write` is all or nothing."""
from __future__ import annotations

import threading
import time

import pytest

from gae_emu.storage import FairLock, Storage


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_fair_lock_goes_to_waiters_in_arrival_order_not_to_the_releaser():
    lock = FairLock()
    order = []
    lock.acquire()
    threads = []
    for name in ("b", "c", "d"):
        def waiter(name=name):
            lock.acquire()
            order.append(name)
            lock.release()
        t = threading.Thread(target=waiter)
        t.start()
        threads.append(t)
        wait_until(lambda: len(lock._waiters) == len(threads))  # queued before the next one starts
    lock.release()
    lock.acquire()  # the releaser asks again at once: it queues behind the three
    order.append("a")
    lock.release()
    for t in threads:
        t.join(5)
    assert order == ["b", "c", "d", "a"]


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
