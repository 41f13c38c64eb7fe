"""memcache as App Engine answers it, through the API server with Google's own memcache client:
negative numbers are not incremented, delete locks block add/replace/cas, stats count key and value
bytes and the oldest item's age and are reset by flush_all, and items expire at relative and
absolute times. The service's clock is moved, never slept on."""
from __future__ import annotations

from typing import Any, List

import pytest

from .conftest import NO_LIBRARY

pytest.importorskip("google.appengine.api", reason=NO_LIBRARY)

from google.appengine.api import memcache  # noqa: E402

START = 1_800_000_000.0


@pytest.fixture
def now(google_api: Any, testbed: Any) -> List[float]:
    """The memcache service's clock, as a one-item list a test moves forward."""
    clock = [START]
    testbed.services.memcache.clock = lambda: clock[0]
    return clock


def test_incr_and_decr_of_a_negative_number_return_none_and_keep_it(now: List[float]) -> None:
    memcache.set("n", -5)
    assert memcache.incr("n") is None
    assert memcache.decr("n") is None
    assert memcache.get("n") == -5
    memcache.set("big", 2 ** 64 - 1)
    assert memcache.incr("big") == 0  # wraps at 2**64
    memcache.set("small", 3)
    assert memcache.decr("small", 10) == 0  # stops at 0
    assert memcache.incr("missing") is None
    assert memcache.incr("missing", initial_value=7) == 8
    assert memcache.offset_multi({"n": 1, "small": 2}) == {"n": None, "small": 2}


def test_a_delete_lock_blocks_add_replace_and_cas_until_it_ends(now: List[float]) -> None:
    client = memcache.Client()
    memcache.set("k", "v")
    assert client.gets("k") == "v"
    assert memcache.delete("k", seconds=10) == memcache.DELETE_SUCCESSFUL
    assert memcache.get("k") is None
    assert memcache.add("k", "new") is False
    assert memcache.replace("k", "new") is False
    assert client.cas("k", "new") is False
    assert memcache.incr("k", initial_value=1) == 2  # a locked key counts as missing for incr
    memcache.delete("k", seconds=10)
    now[0] += 9
    assert memcache.add("k", "new") is False
    now[0] += 1
    assert memcache.add("k", "new") is True
    assert memcache.get("k") == "new"
    memcache.delete("k", seconds=30)
    assert memcache.set("k", "forced") is True  # set is not blocked by a lock
    assert memcache.get("k") == "forced"
    assert memcache.delete("nothing") == memcache.DELETE_ITEM_MISSING


def test_stats_count_key_and_value_bytes_and_age_and_flush_resets_them(now: List[float]) -> None:
    memcache.set("abc", b"12345")
    now[0] += 42
    memcache.set("de", b"xy")
    assert memcache.get_stats()["oldest_item_age"] == 42  # abc, written 42 s ago
    now[0] += 8
    assert memcache.get("abc") == b"12345"  # reading abc makes de the least recently accessed
    assert memcache.get("nope") is None
    stats = memcache.get_stats()
    assert (stats["items"], stats["bytes"]) == (2, 3 + 5 + 2 + 2)
    assert (stats["hits"], stats["misses"], stats["byte_hits"]) == (1, 1, 3 + 5)
    assert stats["oldest_item_age"] == 8
    assert memcache.flush_all() is True
    assert memcache.get_stats() == {"hits": 0, "misses": 0, "byte_hits": 0, "items": 0, "bytes": 0,
                                    "oldest_item_age": 0}


def test_items_expire_at_relative_and_absolute_times(now: List[float]) -> None:
    memcache.set("rel", 1, time=60)
    memcache.set("abs", 2, time=START + 3600)  # more than 30 days: a Unix time
    memcache.set("forever", 3)
    now[0] += 59
    assert memcache.get_multi(["rel", "abs", "forever"]) == {"rel": 1, "abs": 2, "forever": 3}
    now[0] += 1
    assert memcache.get_multi(["rel", "abs", "forever"]) == {"abs": 2, "forever": 3}
    now[0] = START + 3600
    assert memcache.get_multi(["rel", "abs", "forever"]) == {"forever": 3}
    assert memcache.get_stats()["items"] == 1
