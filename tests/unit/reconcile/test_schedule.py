"""When a BrokerToken is looked at again: `next_check_in` for every way a pass ends, the backoff, an invalid spec."""

from __future__ import annotations

from datetime import timedelta

import pytest

from snyk_broker_operator.models import BrokerTokenStatus, ConsumerStatus
from snyk_broker_operator.models.enums import ConditionReason, ConsumerKind, ConsumerState
from snyk_broker_operator.reconcile import schedule
from snyk_broker_operator.reconcile.actions import Stall
from snyk_broker_operator.reconcile.desired import SourceKind
from snyk_broker_operator.reconcile.outcome import Failure, Outcome
from support.reconcile_builders import NOW

PROVISION = SourceKind.PROVISION
GIVEN = SourceKind.EXISTING_SECRET
STALL = Stall(ConditionReason.SECRET_CONFLICT, "Secret 'x' is not ours")
SNYK_DOWN = Failure(ConditionReason.SNYK_UNAVAILABLE, "Snyk answered 503")
EMPTY = BrokerTokenStatus()


def consumers_in(*states: ConsumerState) -> BrokerTokenStatus:
    return BrokerTokenStatus(
        consumers=tuple(
            ConsumerStatus(kind=ConsumerKind.DEPLOYMENT, name=f"c{i}", state=state) for i, state in enumerate(states)
        )
    )


def rotation_in(delay: timedelta, *states: ConsumerState) -> BrokerTokenStatus:
    return consumers_in(*states).model_copy(update={"next_rotation_at": NOW + delay})


def failed(attempts: int | None) -> BrokerTokenStatus:
    return BrokerTokenStatus(failed_attempts=attempts)


@pytest.mark.parametrize(
    ("outcome", "status", "source", "seconds"),
    [
        (Outcome(pending=True), EMPTY, PROVISION, 0.0),
        (Outcome(pending=True, wait_seconds=7.0, failure=SNYK_DOWN), failed(3), PROVISION, 0.0),
        (Outcome(wait_seconds=3.0), EMPTY, PROVISION, 3.0),
        (Outcome(wait_seconds=0.1), EMPTY, PROVISION, 0.5),
        (Outcome(wait_seconds=-2.0), EMPTY, PROVISION, 0.5),
        (Outcome(stall=STALL, wait_seconds=2.0), failed(4), PROVISION, 2.0),
        (Outcome(), EMPTY, PROVISION, 300.0),
        (Outcome(), EMPTY, GIVEN, 30.0),
        (Outcome(), consumers_in(ConsumerState.CURRENT, ConsumerState.CURRENT), PROVISION, 300.0),
        (Outcome(), consumers_in(ConsumerState.CURRENT, ConsumerState.ROLLING_OUT), PROVISION, 10.0),
        (Outcome(), consumers_in(ConsumerState.PENDING), GIVEN, 10.0),
        (Outcome(), consumers_in(ConsumerState.FAILED), PROVISION, 10.0),
        (Outcome(), rotation_in(timedelta(seconds=60)), PROVISION, 60.5),
        (Outcome(), rotation_in(timedelta(hours=1)), PROVISION, 300.0),
        (Outcome(), rotation_in(timedelta(seconds=60)), GIVEN, 30.0),
        (Outcome(), rotation_in(-timedelta(minutes=10)), PROVISION, 0.5),
        (Outcome(), rotation_in(timedelta(seconds=60), ConsumerState.ROLLING_OUT), PROVISION, 10.0),
        (Outcome(failure=Failure(ConditionReason.RATE_LIMITED, "429", retry_after=42.0)), failed(6), PROVISION, 42.0),
        (Outcome(failure=Failure(ConditionReason.RATE_LIMITED, "429", retry_after=0.2)), failed(1), PROVISION, 1.0),
        (Outcome(failure=Failure(ConditionReason.RATE_LIMITED, "429", retry_after=0.0)), failed(3), PROVISION, 20.0),
        (Outcome(failure=SNYK_DOWN), failed(3), PROVISION, 20.0),
        (Outcome(failure=SNYK_DOWN), failed(None), GIVEN, 5.0),
        (Outcome(failure=SNYK_DOWN), failed(30), PROVISION, 300.0),
        (Outcome(stall=STALL), failed(2), PROVISION, 10.0),
    ],
    ids=[
        "a pass that stopped with steps left is looked at again at once",
        "steps left win over a wait, a failure and a backoff",
        "a decision that waits on the cluster is looked at after its wait",
        "a wait under half a second is rounded up to half a second",
        "a wait already over is still half a second away, never a hot loop",
        "a stall that is polled keeps the decision's pace instead of backing off",
        "a converged provisioned token is resynced every five minutes",
        "a converged token from a given Secret is polled every thirty seconds",
        "consumers that all run the token leave the normal resync",
        "a consumer still rolling out is looked at every ten seconds",
        "a consumer pending its rollout is looked at every ten seconds, even for a given Secret",
        "a consumer whose rollout failed is looked at every ten seconds",
        "a scheduled rotation due before the resync wakes the loop half a second after it falls due",
        "a scheduled rotation due after the resync leaves the resync",
        "a given Secret's poll comes before a rotation a minute away",
        "an overdue rotation is looked at in half a second",
        "rolling consumers are looked at sooner than a rotation a minute away",
        "a failure with retry_after waits as long as Snyk asks, not the backoff",
        "a retry_after under a second is rounded up to a second",
        "a retry_after of zero is no hint, so the backoff applies",
        "a failure without retry_after backs off by the failed attempts in a row",
        "a first failure not yet counted in the status backs off five seconds",
        "the backoff is capped at five minutes",
        "a stall that is not polled backs off like a failure",
    ],
)
def test_next_check_in(outcome: Outcome, status: BrokerTokenStatus, source: SourceKind, seconds: float) -> None:
    assert schedule.next_check_in(outcome=outcome, status=status, source=source, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("failed_attempts", "seconds"),
    [(-1, 0.0), (0, 0.0), (1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 80.0), (6, 160.0), (7, 300.0), (60, 300.0)],
    ids=[
        "a negative count is no failure and no wait",
        "no failure, no wait",
        "the first failure waits five seconds",
        "the second failure waits ten seconds",
        "the third failure waits twenty seconds",
        "the fourth failure waits forty seconds",
        "the fifth failure waits eighty seconds",
        "the sixth failure waits 160 seconds",
        "the seventh failure would wait 320 seconds and is capped at 300",
        "any number of failures waits at most five minutes",
    ],
)
def test_backoff_doubles_from_five_seconds_up_to_five_minutes(failed_attempts: int, seconds: float) -> None:
    assert schedule.backoff_seconds(failed_attempts) == seconds


def test_an_invalid_spec_is_looked_at_as_rarely_as_the_longest_backoff() -> None:
    assert schedule.after_invalid_spec() == schedule.BACKOFF_CAP_SECONDS == 300.0
