"""Per-API-key rate limiting for the simulator: one token bucket per key, as Snyk limits per key.

A bucket holds ``limit`` requests and refills at ``limit / 60`` per second, so a client may burst the whole
minute's budget at once and then proceeds at the steady rate. The clock is injected (monotonic seconds) so the
arithmetic is unit-testable without sleeping; :mod:`.app` consults :class:`RateLimiter` after authentication.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MonotonicClock = Callable[[], float]


class TokenBucket:
    def __init__(self, *, capacity: float, refill_per_second: float, clock: MonotonicClock) -> None:
        if capacity <= 0 or refill_per_second <= 0:
            raise ValueError("a token bucket needs a positive capacity and refill rate")
        self._capacity = capacity
        self._refill_per_second = refill_per_second
        self._clock = clock
        self._tokens = capacity
        self._updated_at = clock()

    def try_take(self) -> bool:
        """Spend one request from the bucket; False when it is empty (the caller answers 429)."""
        now = self._clock()
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._refill_per_second)
        self._updated_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class RateLimiter:
    """One :class:`TokenBucket` per API key fingerprint, all with the same per-minute limit."""

    def __init__(self, *, per_minute: int, clock: MonotonicClock = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("the rate limit must be a positive number of requests per minute")
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key_fingerprint: str) -> bool:
        bucket = self._buckets.get(key_fingerprint)
        if bucket is None:
            bucket = TokenBucket(capacity=self.per_minute, refill_per_second=self.per_minute / 60, clock=self._clock)
            self._buckets[key_fingerprint] = bucket
        return bucket.try_take()
