"""Per-request policies as pure logic: the per-key token bucket and the fault plan a rule set produces."""

from __future__ import annotations

import random

import pydantic
import pytest

from snyk_broker_operator.simulator import faults, ratelimit
from snyk_broker_operator.simulator.names import EndpointName


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_whole_limit_at_once_then_refuses() -> None:
    limiter = ratelimit.RateLimiter(per_minute=3, clock=FakeClock())

    assert [limiter.allow("sha256:a") for _ in range(4)] == [True, True, True, False]


def test_a_bucket_refills_at_limit_per_sixty_seconds() -> None:
    clock = FakeClock()
    limiter = ratelimit.RateLimiter(per_minute=6, clock=clock)
    for _ in range(6):
        limiter.allow("sha256:a")

    clock.now += 9.9  # 6/60 per second: not yet one whole request
    assert limiter.allow("sha256:a") is False
    clock.now += 0.2
    assert limiter.allow("sha256:a") is True
    assert limiter.allow("sha256:a") is False


def test_each_key_has_its_own_bucket() -> None:
    limiter = ratelimit.RateLimiter(per_minute=1, clock=FakeClock())

    assert limiter.allow("sha256:a") is True
    assert limiter.allow("sha256:b") is True
    assert limiter.allow("sha256:a") is False


def test_a_non_positive_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        ratelimit.RateLimiter(per_minute=0)


def _book(*specs: dict[str, object], seed: int = 0) -> faults.FaultBook:
    book = faults.FaultBook(rng=random.Random(seed))
    for spec in specs:
        book.add(faults.FaultSpec.model_validate(spec))
    return book


def test_no_rules_means_no_faults() -> None:
    assert _book().plan(EndpointName.USER_ME) == faults.FaultPlan()


def test_a_rule_for_one_endpoint_leaves_the_others_alone() -> None:
    book = _book({"endpoint": "provision_token", "hang": True})

    assert book.plan(EndpointName.SWITCH_TOKEN).outcome is faults.Outcome.NONE
    assert book.plan(EndpointName.PROVISION_TOKEN).outcome is faults.Outcome.HANG


def test_a_rate_limit_burst_answers_429_n_times_then_expires() -> None:
    book = _book({"endpoint": "*", "rateLimitBurst": 2, "retryAfterSeconds": 3})

    plans = [book.plan(EndpointName.USER_ME) for _ in range(3)]

    assert [plan.outcome for plan in plans] == [faults.Outcome.RATE_LIMITED] * 2 + [faults.Outcome.NONE]
    assert [plan.retry_after_seconds for plan in plans] == [3, 3, None]
    assert book.rules() == []


def test_count_limits_a_standing_rule_to_the_next_n_matching_calls() -> None:
    book = _book({"endpoint": "user_me", "latencySeconds": 0.5, "count": 2})

    latencies = [book.plan(EndpointName.USER_ME).latency_seconds for _ in range(3)]

    assert latencies == [0.5, 0.5, 0.0]


def test_without_count_a_rule_applies_until_cleared() -> None:
    book = _book({"endpoint": "*", "errorRate": 1.0, "errorStatus": 502})

    plans = [book.plan(EndpointName.USER_ME) for _ in range(5)]
    book.clear()

    assert {(plan.outcome, plan.error_status) for plan in plans} == {(faults.Outcome.ERROR, 502)}
    assert book.plan(EndpointName.USER_ME).outcome is faults.Outcome.NONE


def test_outcomes_follow_the_documented_precedence() -> None:
    book = _book({"timeoutAfterEffect": 1}, {"errorRate": 1.0}, {"rateLimitBurst": 1}, {"hang": True, "count": 1})

    outcomes = [book.plan(EndpointName.USER_ME).outcome for _ in range(4)]

    assert outcomes == [
        faults.Outcome.HANG,
        faults.Outcome.RATE_LIMITED,
        faults.Outcome.ERROR,
        faults.Outcome.ERROR,  # errorRate 1.0 keeps winning over the still unused timeoutAfterEffect
    ]


def test_timeout_after_effect_is_counted_and_then_the_rule_expires() -> None:
    book = _book({"endpoint": "update_integration", "timeoutAfterEffect": 1})

    outcomes = [book.plan(EndpointName.UPDATE_INTEGRATION).outcome for _ in range(2)]

    assert outcomes == [faults.Outcome.TIMEOUT_AFTER_EFFECT, faults.Outcome.NONE]


def test_a_rule_with_only_retry_after_sets_the_header_for_real_rate_limits() -> None:
    book = _book({"retryAfterSeconds": 4})

    plan = book.plan(EndpointName.USER_ME)

    assert (plan.outcome, plan.retry_after_seconds) == (faults.Outcome.NONE, 4)
    assert len(book.rules()) == 1


def test_error_rate_draws_are_reproducible_from_the_generator_seed() -> None:
    def outcomes(seed: int) -> list[faults.Outcome]:
        book = _book({"errorRate": 0.5}, seed=seed)
        return [book.plan(EndpointName.USER_ME).outcome for _ in range(40)]

    first = outcomes(11)

    assert first == outcomes(11)
    assert set(first) == {faults.Outcome.ERROR, faults.Outcome.NONE}


@pytest.mark.parametrize(
    "spec",
    [
        {"endpoint": "provision"},
        {"endpoint": "unknown", "hang": True},
        {"endpoint": "*"},
        {"errorRate": 1.5},
        {"errorRate": 1, "errorStatus": 200},
        {"hang": True, "count": 0},
        {"hang": True, "colour": "red"},
    ],
    ids=[
        "unknown-endpoint",
        "internal-endpoint-name",
        "no-effect",
        "rate-above-one",
        "status-not-an-error",
        "zero-count",
        "unknown-field",
    ],
)
def test_a_bad_fault_spec_is_refused(spec: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        faults.FaultSpec.model_validate(spec)
