"""When a failed Snyk call is tried again, and after how long. Pure: randomness and elapsed time are arguments.

Rules (the reasons are in docs/snyk-client.md):

- Only :class:`~.errors.RateLimitedError` and :class:`~.errors.UnavailableError` are ever retried. The mapping
  in :mod:`.mapping` already makes a provision/switch/clone that *may have reached Snyk* an
  :class:`~.errors.AmbiguousError` (never retried), so an ``UnavailableError`` on such a call means the request
  provably never left (connect error, connect timeout, no pooled connection).
- 429: wait for ``Retry-After`` (seconds or an HTTP date) when Snyk sends it, else ``rate_limit_delay`` plus up
  to half of it again as jitter. A 429 means Snyk refused before acting, so non-idempotent calls may be retried.
- 5xx and connection failures: full-jitter exponential backoff, ``uniform(0, min(max_delay, base * factor**n))``.
- Stop after ``max_attempts`` attempts, or when the next wait would end past ``max_elapsed`` seconds since
  the first attempt (a reconcile must not block for minutes); the last mapped error is then raised.
"""

from __future__ import annotations

import dataclasses
import email.utils
from datetime import UTC, datetime

from snyk_broker_operator.adapters.snyk import errors

_MAX_EXPONENT = 64  # beyond this the delay is capped anyway; stops factor**n from overflowing


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How hard a :class:`~.client.SnykClient` tries before giving up on one call."""

    max_attempts: int = 4
    """Attempts in total, the first included (1 = never retry)."""
    max_elapsed: float = 20.0
    """Seconds from the first attempt beyond which no new wait starts."""
    base_delay: float = 0.5
    """Backoff ceiling of the first retry, in seconds."""
    factor: float = 2.0
    """Growth of the backoff ceiling per attempt."""
    max_delay: float = 30.0
    """Largest backoff ceiling, in seconds."""
    rate_limit_delay: float = 5.0
    """Wait after a 429 without ``Retry-After`` (Snyk does not document the header); up to +50% jitter."""
    max_retry_after: float = 300.0
    """``Retry-After`` values above this are clamped, so one odd header cannot silence a key for hours."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_elapsed, self.base_delay, self.max_delay, self.rate_limit_delay) < 0:
            raise ValueError("delays must not be negative")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")

    def backoff(self, *, attempts_made: int, rand: float) -> float:
        """Full-jitter exponential backoff after ``attempts_made`` failed attempts; ``rand`` is uniform [0, 1)."""
        exponent = min(max(attempts_made - 1, 0), _MAX_EXPONENT)
        ceiling = min(self.max_delay, self.base_delay * self.factor**exponent)
        return rand * ceiling

    def rate_limit_wait(self, *, retry_after: float | None, rand: float) -> float:
        """How long a 429 asks us to wait: ``Retry-After`` when given, else the jittered default."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.rate_limit_delay * (1.0 + rand / 2.0)

    def next_delay(self, error: errors.SnykError, *, attempts_made: int, elapsed: float, rand: float) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up and raise ``error``."""
        if attempts_made >= self.max_attempts:
            return None
        if isinstance(error, errors.RateLimitedError):
            delay = self.rate_limit_wait(retry_after=error.retry_after, rand=rand)
        elif isinstance(error, errors.UnavailableError):
            delay = self.backoff(attempts_made=attempts_made, rand=rand)
        else:
            return None
        if elapsed + delay > self.max_elapsed:
            return None
        return delay


NO_RETRIES = RetryPolicy(max_attempts=1)
"""A policy that tries once: errors surface immediately (benchmarks, and callers that retry themselves)."""


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` in seconds from ``now``: delta-seconds or an HTTP date; ``None`` if absent or unreadable.

    A date in the past gives 0.0. ``now`` must be timezone-aware.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None  # refuses negatives and NaN
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
