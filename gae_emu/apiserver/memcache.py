"""`memcache` over the wire: Get (with `for_cas`), Set (SET/ADD/REPLACE/CAS), Delete, Increment,
BatchIncrement, FlushAll and Stats, on the in-memory `MemcacheStore`.

ndb uses memcache as a lock and a cache around its datastore calls (`NDB9:` keys, CAS sets); the
library works without it, but answering it keeps ndb on its usual path.

Not supported yet: `override` (another app's cache) is ignored; `for_peek` timestamps and delete locks
(`delete_time`) are not reported; GrabTail and the other rare calls answer CALL_NOT_FOUND.

Imports: the standard library, this package.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.memcache_store import InvalidValue, MemcacheStore
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler

INVALID_VALUE = 6  # MemcacheServiceError.INVALID_VALUE
HIT, MISS = 1, 2
DELETED, NOT_FOUND = 1, 2
INCR_OK, INCR_NOT_CHANGED, INCR_ERROR = 1, 2, 3
DECREMENT = 2


class Memcache(ServiceHandler):
    name = "memcache"

    def __init__(self, store: Optional[MemcacheStore] = None) -> None:
        self.store = store or MemcacheStore()

    def methods(self) -> Dict[str, Method]:
        m = pb().memcache
        return {
            "Get": (m.MemcacheGetRequest, self.get),
            "Set": (m.MemcacheSetRequest, self.set),
            "Delete": (m.MemcacheDeleteRequest, self.delete),
            "Increment": (m.MemcacheIncrementRequest, self.increment),
            "BatchIncrement": (m.MemcacheBatchIncrementRequest, self.batch_increment),
            "FlushAll": (m.MemcacheFlushRequest, self.flush_all),
            "Stats": (m.MemcacheStatsRequest, self.stats),
        }

    def get(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheGetResponse()
        for key in request.key:
            item = self.store.get(request.name_space, key)
            response.get_status.append(MISS if item is None else HIT)
            if item is None:
                continue
            out = response.item.add()
            out.key, out.value, out.flags = key, item.value, item.flags
            if request.for_cas:
                out.cas_id = item.cas_id
        return response

    def set(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheSetResponse()
        for item in request.item:
            response.set_status.append(self.store.set(
                request.name_space, item.key, item.value, item.flags, item.set_policy or 1,
                item.expiration_time, item.cas_id))
        return response

    def delete(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheDeleteResponse()
        for item in request.item:
            response.delete_status.append(DELETED if self.store.delete(request.name_space, item.key) else NOT_FOUND)
        return response

    def _increment(self, request: Any, namespace: str, out: Any) -> None:
        delta = -request.delta if request.direction == DECREMENT else request.delta
        initial = request.initial_value if request.HasField("initial_value") else None
        value = self.store.incr(namespace, request.key, delta, initial, request.initial_flags)
        if value is None:
            out.increment_status = INCR_NOT_CHANGED
        else:
            out.new_value, out.increment_status = value, INCR_OK

    def increment(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheIncrementResponse()
        try:
            self._increment(request, request.name_space, response)
        except InvalidValue as exc:
            raise ApplicationError(INVALID_VALUE, str(exc)) from None
        return response

    def batch_increment(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheBatchIncrementResponse()
        for item in request.item:
            out = response.item.add()
            try:
                self._increment(item, request.name_space, out)
            except InvalidValue:
                out.increment_status = INCR_ERROR
        return response

    def flush_all(self, request: Any, call: Call) -> Any:
        self.store.flush()
        return pb().memcache.MemcacheFlushResponse()

    def stats(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheStatsResponse()
        stats = self.store.stats()
        out = response.stats
        for name in ("hits", "misses", "byte_hits", "items", "bytes"):
            setattr(out, name, stats[name])
        out.oldest_item_age = 0
        return response
