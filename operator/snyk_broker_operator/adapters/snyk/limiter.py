"""Client-side pacing per API key: a token bucket plus a cap on requests in flight, shared by every client of a key.

Snyk limits v1 requests per API key (2,000 a minute by default), so the budget belongs to the key, not to a
client: :class:`LimiterRegistry` hands out one :class:`RequestLimiter` per key (looked up by the key's sha256,
never the key itself), and every :class:`~.client.SnykClient` built with the same key waits on the same bucket.

The bucket holds at most ``burst`` tokens and refills at ``requests_per_minute / 60`` per second. What leaves it
therefore conforms to any server-side token bucket with capacity >= ``burst`` and refill >= that rate, and no
60-second window ever sees more than ``burst + requests_per_minute`` requests. The default burst is half the
budget, so the default 1,200/min never exceeds 1,800 in any minute, under Snyk's 2,000 whether Snyk counts with a
bucket or with a window. A 429 from Snyk pauses the whole key (:meth:`RequestLimiter.defer`).

Time is injected (a monotonic ``clock`` and an async ``sleep``) so the arithmetic is unit-testable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import SecretStr

from snyk_broker_operator.adapters.snyk import fingerprint as fingerprints

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_REQUESTS_PER_MINUTE = 1200
DEFAULT_MAX_CONCURRENCY = 8

# Refilling by float arithmetic can leave a level of 0.9999999999 after waiting exactly the computed time;
# treating that as a whole token stops a waiter from spinning on ever-smaller waits the clock cannot resolve.
_ROUNDING_SLACK = 1e-9


class TokenBucket:
    """The bucket's arithmetic alone: no waiting, time passed in by the caller (monotonic seconds)."""

    def __init__(self, *, capacity: float, refill_per_second: float, now: float) -> None:
        if capacity < 1 or refill_per_second <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and a positive refill rate")
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._level = capacity
        self._updated = now

    def level(self, now: float) -> float:
        """Tokens available at ``now`` (fractional while refilling)."""
        self._advance(now)
        return self._level

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until one whole token is available; 0.0 when one is available now."""
        missing = 1.0 - self.level(now)
        return 0.0 if missing <= _ROUNDING_SLACK else missing / self.refill_per_second

    def take(self, now: float) -> None:
        """Spend one token; the caller must have seen :meth:`wait_time` return 0.0 at this ``now``."""
        if self.level(now) < 1.0 - _ROUNDING_SLACK:
            raise RuntimeError("token bucket is empty")
        self._level = max(0.0, self._level - 1.0)

    def reconfigure(self, *, capacity: float, refill_per_second: float, now: float) -> None:
        """Change size and rate, keeping the tokens already earned (but never more than the new capacity)."""
        self._advance(now)
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._level = min(self._level, capacity)

    def _advance(self, now: float) -> None:
        # A clock that steps backwards (it should not, being monotonic) must not mint tokens.
        elapsed = max(0.0, now - self._updated)
        self._level = min(self.capacity, self._level + elapsed * self.refill_per_second)
        self._updated = max(self._updated, now)


def default_burst(requests_per_minute: int) -> int:
    """Half the per-minute budget (at least 1): bursts stay well inside Snyk's limit however Snyk counts."""
    return max(1, requests_per_minute // 2)


class RequestLimiter:
    """One API key's request budget: ``async with limiter.acquire():`` before each HTTP request.

    A caller first takes a concurrency slot, then a token, so a request leaves as soon as its token is
    taken (taking tokens and then queueing for slots would let queued requests leave in a bunch).
    """

    def __init__(
        self,
        *,
        requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        burst: int | None = None,
        clock: Clock = time.monotonic,  # injected by tests
        sleep: Sleep = asyncio.sleep,  # injected by tests
    ) -> None:
        _check_settings(requests_per_minute, max_concurrency, burst)
        self._clock = clock
        self._sleep = sleep
        self._requests_per_minute = requests_per_minute
        self._max_concurrency = max_concurrency
        self._burst = burst if burst is not None else default_burst(requests_per_minute)
        self._bucket = TokenBucket(capacity=self._burst, refill_per_second=requests_per_minute / 60.0, now=clock())
        self._token_lock = asyncio.Lock()
        self._slots = asyncio.Condition()
        self._in_flight = 0
        self._resume_at = float("-inf")

    @property
    def requests_per_minute(self) -> int:
        return self._requests_per_minute

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def __repr__(self) -> str:
        return (
            f"RequestLimiter(requests_per_minute={self._requests_per_minute}, "
            f"max_concurrency={self._max_concurrency}, burst={self._burst}, in_flight={self._in_flight})"
        )

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        """Wait for a concurrency slot and a token; hold the slot until the block exits."""
        async with self._slots:
            await self._slots.wait_for(lambda: self._in_flight < self._max_concurrency)
            self._in_flight += 1
        try:
            await self._take_token()
            yield
        finally:
            async with self._slots:
                self._in_flight -= 1
                # Wake as many waiters as there are free slots (more than one after the cap was raised).
                self._slots.notify(max(1, self._max_concurrency - self._in_flight))

    def defer(self, seconds: float) -> None:
        """Let no request of this key leave for ``seconds`` (Snyk answered 429: every client must back off)."""
        self._resume_at = max(self._resume_at, self._clock() + max(0.0, seconds))

    def reconfigure(self, *, requests_per_minute: int, max_concurrency: int, burst: int | None = None) -> None:
        """Apply new settings to the live limiter (waiters keep their place in the queue)."""
        _check_settings(requests_per_minute, max_concurrency, burst)
        self._requests_per_minute = requests_per_minute
        self._burst = burst if burst is not None else default_burst(requests_per_minute)
        self._bucket.reconfigure(capacity=self._burst, refill_per_second=requests_per_minute / 60.0, now=self._clock())
        # A raised cap takes effect at the next release: waiters exist only while every slot is taken.
        self._max_concurrency = max_concurrency

    async def _take_token(self) -> None:
        # The lock is held while sleeping, so waiters are served first come, first served (asyncio.Lock is FIFO).
        async with self._token_lock:
            while True:
                now = self._clock()
                wait = max(self._resume_at - now, self._bucket.wait_time(now))
                if wait <= 0:
                    self._bucket.take(now)
                    return
                await self._sleep(wait)


def _check_settings(requests_per_minute: int, max_concurrency: int, burst: int | None) -> None:
    if requests_per_minute < 1:
        raise ValueError("requests_per_minute must be at least 1")
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    if burst is not None and not 1 <= burst <= requests_per_minute:
        raise ValueError("burst must be between 1 and requests_per_minute")


class LimiterRegistry:
    """Hands out one :class:`RequestLimiter` per API key. Create one per operator and pass it to every client.

    Keyed by the sha256 of the key, so the registry never holds the key. When a key is asked for again with
    different settings, the latest settings are applied to the shared limiter (the operator asks when it
    (re)builds a client for a connection, so an edited budget takes effect).
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,  # injected by tests
        sleep: Sleep = asyncio.sleep,  # injected by tests
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._limiters: dict[str, RequestLimiter] = {}

    def for_key(
        self,
        api_key: SecretStr,
        *,
        requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        burst: int | None = None,
    ) -> RequestLimiter:
        digest = fingerprints.sha256_hex(api_key)
        limiter = self._limiters.get(digest)
        if limiter is None:
            limiter = RequestLimiter(
                requests_per_minute=requests_per_minute,
                max_concurrency=max_concurrency,
                burst=burst,
                clock=self._clock,
                sleep=self._sleep,
            )
            self._limiters[digest] = limiter
            return limiter
        wanted_burst = burst if burst is not None else default_burst(requests_per_minute)
        if (limiter.requests_per_minute, limiter.max_concurrency, limiter.burst) != (
            requests_per_minute,
            max_concurrency,
            wanted_burst,
        ):
            logger.info(
                "Request budget of API key %s changed to %d/min, %d in flight",
                fingerprints.fingerprint(api_key),
                requests_per_minute,
                max_concurrency,
            )
            limiter.reconfigure(requests_per_minute=requests_per_minute, max_concurrency=max_concurrency, burst=burst)
        return limiter

    def __len__(self) -> int:
        return len(self._limiters)

    def __repr__(self) -> str:
        return f"LimiterRegistry(keys={len(self._limiters)})"
