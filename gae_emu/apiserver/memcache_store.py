"""The emulated memcache's state: items per (namespace, key) in memory, with flags, expiry and CAS ids.

Memcache is a cache, so it lives in memory and is lost on restart, as dev_appserver's is. It lives
here rather than in `services/` because only the wire front door uses it so far.

Semantics follow memcached as App Engine exposes it: an expiration of at most 30 days is relative,
larger is a Unix time, 0 never expires; CAS stores only if the item is unchanged since the `for_cas`
get that returned `cas_id`; increments work on decimal ASCII values as unsigned 64-bit numbers
(wrapping up, stopping at 0 down). Delete locks (`delete_time`) are not emulated.

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


class InvalidValue(ValueError):
    """An increment of a value that is not a decimal number."""


class MemcacheStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._items: Dict[Tuple[str, bytes], Item] = {}
        self._cas = itertools.count(1)
        self._lock = threading.Lock()
        self.hits = self.misses = self.byte_hits = 0

    def _expiry(self, expiration: int) -> Optional[float]:
        if not expiration:
            return None
        return self.clock() + expiration if expiration <= MAX_RELATIVE_EXPIRATION else float(expiration)

    def _live(self, key: Tuple[str, bytes]) -> Optional[Item]:
        item = self._items.get(key)
        if item is not None and item.expires is not None and item.expires <= self.clock():
            del self._items[key]
            return None
        return item

    def get(self, namespace: str, key: bytes) -> Optional[Item]:
        with self._lock:
            item = self._live((namespace, key))
            if item is None:
                self.misses += 1
            else:
                self.hits += 1
                self.byte_hits += len(item.value)
            return item

    def set(self, namespace: str, key: bytes, value: bytes, flags: int = 0, policy: int = SetPolicy.SET,
            expiration: int = 0, cas_id: int = 0) -> SetStatus:
        with self._lock:
            current = self._live((namespace, key))
            if policy == SetPolicy.ADD and current is not None:
                return SetStatus.NOT_STORED
            if policy in (SetPolicy.REPLACE, SetPolicy.CAS) and current is None:
                return SetStatus.NOT_STORED
            if policy == SetPolicy.CAS and current is not None and current.cas_id != cas_id:
                return SetStatus.EXISTS
            self._items[(namespace, key)] = Item(value, flags, self._expiry(expiration), next(self._cas))
            return SetStatus.STORED

    def delete(self, namespace: str, key: bytes) -> bool:
        with self._lock:
            return self._live((namespace, key)) is not None and self._items.pop((namespace, key)) is not None

    def incr(self, namespace: str, key: bytes, delta: int, initial_value: Optional[int] = None,
             initial_flags: int = 0) -> Optional[int]:
        """The new value, or None when the key is missing and no initial value was given."""
        with self._lock:
            item = self._live((namespace, key))
            if item is None:
                if initial_value is None:
                    return None
                item = Item(str(initial_value).encode("ascii"), initial_flags, None, 0)
            try:
                number = int(item.value.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise InvalidValue(f"memcache value of {key!r} is not a decimal number") from None
            number = (number + delta) % UINT64 if delta >= 0 else max(number + delta, 0)
            self._items[(namespace, key)] = Item(str(number).encode("ascii"), item.flags, item.expires, next(self._cas))
            return number

    def flush(self) -> None:
        with self._lock:
            self._items.clear()

    def stats(self) -> Dict[str, int]:
        with self._lock:
            now = self.clock()
            live = [i for i in self._items.values() if i.expires is None or i.expires > now]
            return {"hits": self.hits, "misses": self.misses, "byte_hits": self.byte_hits,
                    "items": len(live), "bytes": sum(len(i.value) for i in live)}
