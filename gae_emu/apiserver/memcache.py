"""`memcache` over the wire: Get (with `for_cas` and `for_peek`), Set (SET/ADD/REPLACE/CAS), Delete
(with delete locks), Increment, BatchIncrement, FlushAll and Stats, on `MemcacheService`.

ndb uses memcache as a lock and a cache around its datastore calls (`NDB9:` keys, CAS sets); the
library works without it, but answering it keeps ndb on its usual path.

Not supported: `override` (another app's cache) is ignored; GrabTail and the other rare calls
answer CALL_NOT_FOUND.

Imports: the standard library, `gae_emu.services.memcache`, this package.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from gae_emu.apiserver.errors import ApplicationError
from gae_emu.apiserver.protos import pb
from gae_emu.apiserver.transport import Call, Method, ServiceHandler
from gae_emu.services.memcache import InvalidValue, MemcacheService

INVALID_VALUE = 6  # MemcacheServiceError.INVALID_VALUE
HIT, MISS = 1, 2
DELETED, NOT_FOUND = 1, 2
INCR_OK, INCR_NOT_CHANGED, INCR_ERROR = 1, 2, 3
DECREMENT = 2
STATS = ("hits", "misses", "byte_hits", "items", "bytes", "oldest_item_age")


class Memcache(ServiceHandler):
    name = "memcache"

    def __init__(self, service: Optional[MemcacheService] = None) -> None:
        self.service = service or MemcacheService()

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
            item = self.service.get(request.name_space, key, peek=request.for_peek)
            response.get_status.append(MISS if item is None else HIT)
            if item is None:
                continue
            out = response.item.add()
            out.key, out.value, out.flags = key, item.value, item.flags
            if request.for_cas:
                out.cas_id = item.cas_id
            if request.for_peek:
                out.is_delete_locked = item.locked
                out.timestamps.last_access_time_sec = int(item.accessed)
                if item.expires is not None:
                    out.timestamps.expiration_time_sec = int(item.expires)
                if item.locked_until is not None:
                    out.timestamps.delete_lock_time_sec = int(item.locked_until)
        return response

    def set(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheSetResponse()
        for item in request.item:
            response.set_status.append(self.service.set(
                request.name_space, item.key, item.value, item.flags, item.set_policy or 1,
                item.expiration_time, item.cas_id if item.HasField("cas_id") else None))
        return response

    def delete(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheDeleteResponse()
        for item in request.item:
            deleted = self.service.delete(request.name_space, item.key, item.delete_time)
            response.delete_status.append(DELETED if deleted else NOT_FOUND)
        return response

    def _increment(self, request: Any, namespace: str, out: Any) -> None:
        delta = -request.delta if request.direction == DECREMENT else request.delta
        initial = request.initial_value if request.HasField("initial_value") else None
        value = self.service.incr(namespace, request.key, delta, initial, request.initial_flags)
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
        self.service.flush()
        return pb().memcache.MemcacheFlushResponse()

    def stats(self, request: Any, call: Call) -> Any:
        response = pb().memcache.MemcacheStatsResponse()
        stats = self.service.stats()
        for name in STATS:
            setattr(response.stats, name, stats[name])
        return response
