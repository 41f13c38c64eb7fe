"""The emulated memcache: items per (namespace, key) in memory, with flags, expiry, CAS ids, delete
locks and the service's statistics.

Memcache is a cache, so it lives in memory and is lost on restart, as dev_appserver's is. The rules
are App Engine's (Google's memcache stub is the reference where the docs are vague):

- an expiration of at most 30 days is relative, larger is a Unix time, 0 never expires;
- `delete(key, seconds)` removes the value but *locks* the key for that long: `add`, `replace` and
  `cas` are refused and `get` misses until the lock ends; `set` still stores;
- `cas` stores only if the item is unchanged since the `for_cas` get that returned its `cas_id`;
- `incr`/`decr` read the value as an unsigned 64-bit decimal: a negative or non-numeric value is
  `InvalidValue` (the client's `incr` then returns None and the value stays), a decrement stops at
  0 and an increment wraps at 2**64; a missing (or locked) key starts from `initial_value` if given;
- statistics count hits, misses, bytes of key and value (hits and stored items alike), and
  `oldest_item_age`, the seconds since the least recently accessed item was last read or written
  (the client library's definition: not the time since it was created); `flush()` empties the
  cache and resets them.

`clock` is injectable (seconds since the epoch) so tests move time instead of sleeping.

Imports: the standard library only.
"""
from __future__ import annotations

import enum
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

MAX_RELATIVE_EXPIRATION = 30 * 86400
UINT64 = 1 << 64

CacheKey = Tuple[str, bytes]


class SetPolicy(enum.IntEnum):
    SET = 1
    ADD = 2
    REPLACE = 3
    CAS = 4


class SetStatus(enum.IntEnum):
    STORED = 1
    NOT_STORED = 2
    ERROR = 3
    EXISTS = 4


@dataclass
class Item:
    value: bytes
    flags: int
    expires: Optional[float]  # absolute time, None = never
    cas_id: int
    accessed: float  # last read or write (not a peek)
    locked_until: Optional[float] = None  # set by a delete with a lock time: the value is gone

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


class InvalidValue(ValueError):
    """An increment of a value that is not an unsigned 64-bit decimal number."""


class MemcacheService:
    """One app's cache (namespaces are part of every key)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._items: Dict[CacheKey, Item] = {}
        self._cas = itertools.count(1)
        self._lock = threading.Lock()
        self._reset_stats()

    def _reset_stats(self) -> None:
        self.hits = self.misses = self.byte_hits = 0

    def _absolute(self, seconds: int) -> float:
        return float(seconds) if seconds > MAX_RELATIVE_EXPIRATION else self.clock() + seconds

    def _live(self, key: CacheKey) -> Optional[Item]:
        """The item or lock under `key`, dropping it first if its time is up."""
        item = self._items.get(key)
        if item is not None and item.expires is not None and item.expires <= self.clock():
            del self._items[key]
            return None
        return item

    def _store(self, key: CacheKey, value: bytes, flags: int, expiration: int) -> None:
        expires = self._absolute(expiration) if expiration else None
        self._items[key] = Item(value, flags, expires, next(self._cas), self.clock())

    def get(self, namespace: str, key: bytes, peek: bool = False) -> Optional[Item]:
        """The item, or None (a miss) when absent, expired or delete-locked; a `peek` also returns
        a lock (an item with an empty value and `locked` set)."""
        with self._lock:
            item = self._live((namespace, key))
            if item is None or (item.locked and not peek):
                self.misses += 1
                return None
            self.hits += 1
            self.byte_hits += len(key) + len(item.value)
            if not peek:
                item.accessed = self.clock()
            return item

    def set(self, namespace: str, key: bytes, value: bytes, flags: int = 0, policy: int = SetPolicy.SET,
            expiration: int = 0, cas_id: Optional[int] = None) -> SetStatus:
        with self._lock:
            current = self._live((namespace, key))
            present = current is not None and not current.locked
            if policy == SetPolicy.ADD and current is not None:
                return SetStatus.NOT_STORED  # a delete lock blocks add as a value does
            if policy in (SetPolicy.REPLACE, SetPolicy.CAS) and not present:
                return SetStatus.NOT_STORED
            if policy == SetPolicy.CAS:
                if cas_id is None:
                    return SetStatus.NOT_STORED
                if current is not None and current.cas_id != cas_id:
                    return SetStatus.EXISTS
            self._store((namespace, key), value, flags, expiration)
            return SetStatus.STORED

    def delete(self, namespace: str, key: bytes, lock_seconds: int = 0) -> bool:
        """Remove the item (False when there was none); with `lock_seconds`, lock the key that long."""
        with self._lock:
            item = self._live((namespace, key))
            if item is None:
                return False
            if lock_seconds:
                until = self._absolute(lock_seconds)
                self._items[(namespace, key)] = Item(b"", 0, until, item.cas_id, item.accessed, until)
            else:
                del self._items[(namespace, key)]
            return True

    def incr(self, namespace: str, key: bytes, delta: int, initial_value: Optional[int] = None,
             initial_flags: int = 0) -> Optional[int]:
        """The new value, or None when the key is missing and no initial value was given."""
        with self._lock:
            item = self._live((namespace, key))
            if item is None or item.locked:
                if initial_value is None:
                    return None
                self._store((namespace, key), str(initial_value).encode("ascii"), initial_flags, 0)
                item = self._items[(namespace, key)]
            try:
                number = int(item.value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise InvalidValue(f"memcache value of {key!r} is not a decimal number") from None
            if not 0 <= number < UINT64:
                raise InvalidValue(f"memcache value of {key!r} is not an unsigned 64-bit integer")
            number = max(number + delta, 0) % UINT64
            item.value = str(number).encode("ascii")
            item.accessed = self.clock()
            return number

    def flush(self) -> None:
        """Empty the cache and reset its statistics (FlushAll)."""
        with self._lock:
            self._items.clear()
            self._reset_stats()

    def stats(self) -> Dict[str, int]:
        with self._lock:
            now = self.clock()
            live = [(k, i) for k, i in self._items.items()
                    if not i.locked and (i.expires is None or i.expires > now)]
            oldest = min((i.accessed for _, i in live), default=now)
            return {"hits": self.hits, "misses": self.misses, "byte_hits": self.byte_hits,
                    "items": len(live), "bytes": sum(len(k[1]) + len(i.value) for k, i in live),
                    "oldest_item_age": int(now - oldest)}
