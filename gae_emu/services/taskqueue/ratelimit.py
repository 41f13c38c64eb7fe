"""Token buckets for `--enforce-queue-rates`: a queue dispatches at most `rate` tasks per second,
with bursts of up to `bucket_size` (production's model; dev_appserver never enforces it).

A bucket starts full, refills continuously at `rate_per_second` up to `bucket_size`, and each
dispatched task takes one token. `rate: 0` pauses a queue. A queue without `rate` is not limited.

Imports: the standard library and `gae_emu.config.models`.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from gae_emu.config.models import QueueDef

DEFAULT_BUCKET_SIZE = 5


class TokenBuckets:
    def __init__(self) -> None:
        self._buckets: Dict[str, Tuple[float, float]] = {}  # queue -> (tokens, at time)
        self._lock = threading.Lock()

    @staticmethod
    def _limits(queue: QueueDef) -> Optional[Tuple[float, float]]:
        if queue.rate_per_second is None:
            return None
        return queue.rate_per_second, float(queue.bucket_size or DEFAULT_BUCKET_SIZE)

    def _tokens(self, queue: QueueDef, now: float) -> float:
        rate, size = self._limits(queue)  # type: ignore[misc]
        if rate <= 0:
            return 0.0  # rate 0: the queue is paused
        tokens, at = self._buckets.get(queue.name, (size, now))
        return min(size, tokens + max(0.0, now - at) * rate)

    def available(self, queue: QueueDef, now: float) -> Optional[int]:
        """Whole tokens the queue may spend now; None when it is not rate-limited."""
        if self._limits(queue) is None:
            return None
        with self._lock:
            return int(self._tokens(queue, now))

    def take(self, queue: QueueDef, count: int, now: float) -> None:
        if self._limits(queue) is None or count <= 0:
            return
        with self._lock:
            self._buckets[queue.name] = (self._tokens(queue, now) - count, now)

    def forget(self, name: str) -> None:
        """Start a queue's bucket afresh (full), e.g. after its limits changed."""
        with self._lock:
            self._buckets.pop(name, None)

    def next_token_at(self, queue: QueueDef, now: float) -> Optional[float]:
        """When the queue will next have a whole token (None: not limited, or paused by rate 0)."""
        limits = self._limits(queue)
        if limits is None or limits[0] <= 0:
            return None
        with self._lock:
            tokens = self._tokens(queue, now)
        return now if tokens >= 1 else now + (1 - tokens) / limits[0]
