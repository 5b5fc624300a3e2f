"""RetryPolicy and Retry-After parsing: pure arithmetic, randomness and time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from snyk_broker_operator.adapters.snyk import errors, retry
from snyk_broker_operator.adapters.snyk.calls import CallContext, SnykCall

CONTEXT = CallContext(SnykCall.LIST_INTEGRATIONS, org_id="11111111-1111-4111-8111-111111111111")
NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts_made", "ceiling"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (10_000, 30.0)],
    ids=["first retry 0.5s", "second 1s", "third 2s", "fourth 4s", "capped at 30s", "huge attempt no overflow"],
)
def test_backoff_is_full_jitter_under_an_exponential_ceiling(attempts_made: int, ceiling: float) -> None:
    policy = retry.RetryPolicy()
    assert policy.backoff(attempts_made=attempts_made, rand=0.0) == 0.0
    assert policy.backoff(attempts_made=attempts_made, rand=0.5) == pytest.approx(ceiling / 2)
    assert policy.backoff(attempts_made=attempts_made, rand=0.999999) == pytest.approx(ceiling, rel=1e-5)


def test_rate_limit_wait_honours_retry_after_and_clamps_it() -> None:
    policy = retry.RetryPolicy(max_retry_after=120)
    assert policy.rate_limit_wait(retry_after=7.0, rand=0.9) == 7.0
    assert policy.rate_limit_wait(retry_after=-3.0, rand=0.9) == 0.0
    assert policy.rate_limit_wait(retry_after=86_400.0, rand=0.9) == 120.0


def test_rate_limit_wait_without_retry_after_is_the_default_plus_up_to_half_of_it() -> None:
    policy = retry.RetryPolicy(rate_limit_delay=5.0)
    assert policy.rate_limit_wait(retry_after=None, rand=0.0) == 5.0
    assert policy.rate_limit_wait(retry_after=None, rand=0.999999) == pytest.approx(7.5, rel=1e-5)


def test_unavailable_and_rate_limited_are_retried() -> None:
    policy = retry.RetryPolicy()
    unavailable = errors.UnavailableError(CONTEXT, status_code=503)
    limited = errors.RateLimitedError(CONTEXT, retry_after=2.0)
    assert policy.next_delay(unavailable, attempts_made=1, elapsed=0.0, rand=0.5) == pytest.approx(0.25)
    assert policy.next_delay(limited, attempts_made=1, elapsed=0.0, rand=0.5) == 2.0


@pytest.mark.parametrize(
    "error",
    [
        errors.AmbiguousError(CallContext(SnykCall.PROVISION_TOKEN), status_code=502),
        errors.AuthenticationError(CONTEXT, status_code=401),
        errors.NotFoundError(CONTEXT, subject=errors.NotFoundSubject.ORG, status_code=404),
        errors.BadRequestError(CONTEXT, status_code=422),
        errors.ProvisionalTokenOutstandingError(CallContext(SnykCall.PROVISION_TOKEN), status_code=409),
        errors.UnexpectedResponseError(CONTEXT, status_code=200),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_are_never_retried(error: errors.SnykError) -> None:
    assert retry.RetryPolicy().next_delay(error, attempts_made=1, elapsed=0.0, rand=0.5) is None


def test_gives_up_after_max_attempts() -> None:
    policy = retry.RetryPolicy(max_attempts=3)
    unavailable = errors.UnavailableError(CONTEXT, status_code=503)
    assert policy.next_delay(unavailable, attempts_made=2, elapsed=0.0, rand=0.5) is not None
    assert policy.next_delay(unavailable, attempts_made=3, elapsed=0.0, rand=0.5) is None
    assert retry.NO_RETRIES.next_delay(unavailable, attempts_made=1, elapsed=0.0, rand=0.5) is None


def test_gives_up_when_the_wait_would_end_past_max_elapsed() -> None:
    policy = retry.RetryPolicy(max_elapsed=10.0)
    limited = errors.RateLimitedError(CONTEXT, retry_after=6.0)
    assert policy.next_delay(limited, attempts_made=1, elapsed=3.0, rand=0.0) == 6.0
    assert policy.next_delay(limited, attempts_made=1, elapsed=4.5, rand=0.0) is None


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        retry.RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="factor"):
        retry.RetryPolicy(factor=0.5)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-4", None),
        ("nan", None),
        ("soon", None),
        (format_datetime(NOW + timedelta(seconds=42), usegmt=True), 42.0),
        (format_datetime(NOW - timedelta(seconds=42), usegmt=True), 0.0),
    ],
    ids=["absent", "seconds", "fractional", "zero", "negative", "nan", "garbage", "http date", "date in past"],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert retry.parse_retry_after(header, now=NOW) == expected
