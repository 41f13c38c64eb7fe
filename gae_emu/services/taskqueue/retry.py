"""Retry arithmetic of B7: which parameters apply, the backoff before retry n, and whether a task
may be retried at all. Pure functions, so tests check Google's documented sequences directly.

Imports: the standard library and `gae_emu.config.models` only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from gae_emu.config.models import RetryParameters

# taskqueue_service.proto defaults; no limits means retry forever.
DEFAULT_MIN_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 3600.0
DEFAULT_MAX_DOUBLINGS = 16


@dataclass(frozen=True)
class RetryPolicy:
    """Fully resolved retry parameters (limits stay None when unset)."""

    min_backoff: float = DEFAULT_MIN_BACKOFF
    max_backoff: float = DEFAULT_MAX_BACKOFF
    max_doublings: int = DEFAULT_MAX_DOUBLINGS
    retry_limit: Optional[int] = None
    age_limit: Optional[float] = None

    def backoff(self, n: int) -> float:
        """Seconds to wait before retry `n` (n = retry_count + 1, so the first retry is n=1)."""
        exponent = min(n - 1, self.max_doublings)
        linear_steps = n - exponent
        delay = self.min_backoff
        if exponent > 0:
            delay *= 2 ** min(1023, exponent)
        if linear_steps > 1:
            delay *= linear_steps
        return min(self.max_backoff, delay)

    def can_retry(self, n: int, age: float) -> bool:
        """Whether retry `n` may happen for a task first tried `age` seconds ago. With both limits
        set the task gives up only when both are exceeded."""
        limit_ok = self.retry_limit is None or self.retry_limit >= n
        age_ok = self.age_limit is None or self.age_limit >= age
        if self.retry_limit is not None and self.age_limit is not None:
            return self.retry_limit >= n or self.age_limit >= age
        return limit_ok and age_ok


def resolve(task_retry: Optional[RetryParameters], queue_retry: Optional[RetryParameters]) -> RetryPolicy:
    """The task's options if it has any, else the queue's, else the defaults; unset backoff bounds
    follow the other bound when the default would contradict it (queue.yaml translation, B7)."""
    params = task_retry if task_retry is not None else queue_retry
    if params is None:
        return RetryPolicy()
    min_backoff = params.min_backoff_seconds
    max_backoff = params.max_backoff_seconds
    if min_backoff is None:
        min_backoff = DEFAULT_MIN_BACKOFF if max_backoff is None else min(DEFAULT_MIN_BACKOFF, max_backoff)
    if max_backoff is None:
        max_backoff = max(DEFAULT_MAX_BACKOFF, min_backoff)
    return RetryPolicy(
        min_backoff=float(min_backoff),
        max_backoff=float(max_backoff),
        max_doublings=DEFAULT_MAX_DOUBLINGS if params.max_doublings is None else int(params.max_doublings),
        retry_limit=params.task_retry_limit,
        age_limit=params.task_age_limit,
    )
