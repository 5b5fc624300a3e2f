"""A (Cluster)SnykConnection's status: when its credentials are checked again, and the conditions a check gives."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from snyk_broker_operator.models import SnykConnectionStatus
from snyk_broker_operator.models.enums import ConditionReason
from snyk_broker_operator.reconcile import connection
from snyk_broker_operator.reconcile.actions import Stall
from snyk_broker_operator.reconcile.outcome import Failure, Outcome
from support.reconcile_builders import NOW

EARLIER = NOW - timedelta(minutes=5)
WORKS = Outcome()
BAD_KEY = Outcome(stall=Stall(ConditionReason.AUTHENTICATION_FAILED, "Snyk refused the API key (401)"))
SNYK_DOWN = Outcome(failure=Failure(ConditionReason.SNYK_UNAVAILABLE, "Snyk answered 503"))


def checked(outcome: Outcome, *, ago: timedelta = timedelta(minutes=5), generation: int = 2) -> SnykConnectionStatus:
    return connection.after_check(None, outcome=outcome, orgs_seen=3, generation=generation, now=NOW - ago)


def conditions_of(status: SnykConnectionStatus) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in status.conditions or ()}


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        (None, False),
        (SnykConnectionStatus(), False),
        (checked(WORKS), True),
        (checked(BAD_KEY), False),
        (checked(SNYK_DOWN), False),
    ],
    ids=[
        "a connection with no status is not ready",
        "a status without conditions is not ready",
        "a check that worked makes the connection ready",
        "a refused key leaves it not ready",
        "Snyk unreachable leaves it not ready",
    ],
)
def test_is_ready(status: SnykConnectionStatus | None, ready: bool) -> None:
    assert connection.is_ready(status) is ready


@pytest.mark.parametrize(
    ("previous", "generation", "due_in"),
    [
        (None, 2, None),
        (SnykConnectionStatus(observed_generation=2), 2, None),
        (checked(WORKS), 3, None),
        (checked(WORKS), 2, 600.0),
        (checked(WORKS, ago=timedelta(minutes=15)), 2, None),
        (checked(WORKS, ago=timedelta(hours=2)), 2, None),
        (checked(BAD_KEY, ago=timedelta(seconds=20)), 2, 40.0),
        (checked(SNYK_DOWN, ago=timedelta(minutes=2)), 2, None),
    ],
    ids=[
        "a connection never checked is due now",
        "a status without a check time is due now",
        "a changed spec is checked now",
        "a working key checked five minutes ago is checked again in ten",
        "a working key checked exactly fifteen minutes ago is due now",
        "a stale check is due now",
        "a broken key checked twenty seconds ago is checked again in forty",
        "a broken key checked over a minute ago is due now",
    ],
)
def test_check_due_in(previous: SnykConnectionStatus | None, generation: int, due_in: float | None) -> None:
    assert connection.check_due_in(previous, generation=generation, now=NOW) == due_in


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            WORKS,
            {
                "Ready": ("True", "Reconciled", "credentials work; the API key sees 3 org(s)"),
                "Reconciling": ("False", "Reconciled", "credentials work; the API key sees 3 org(s)"),
                "Stalled": ("False", "Reconciled", "credentials work; the API key sees 3 org(s)"),
            },
        ),
        (
            BAD_KEY,
            {
                "Ready": ("False", "AuthenticationFailed", "Snyk refused the API key (401)"),
                "Reconciling": ("False", "AuthenticationFailed", "Snyk refused the API key (401)"),
                "Stalled": ("True", "AuthenticationFailed", "Snyk refused the API key (401)"),
            },
        ),
        (
            SNYK_DOWN,
            {
                "Ready": ("False", "SnykUnavailable", "Snyk answered 503"),
                "Reconciling": ("True", "SnykUnavailable", "Snyk answered 503; checking again in 60 s"),
                "Stalled": ("False", "SnykUnavailable", "Snyk answered 503"),
            },
        ),
    ],
    ids=[
        "a key that works is ready and says how many orgs it sees",
        "a key a human must fix is stalled",
        "Snyk unreachable is reconciling and says when it checks again",
    ],
)
def test_after_check(outcome: Outcome, expected: dict[str, tuple[str, str, str]]) -> None:
    status = connection.after_check(None, outcome=outcome, orgs_seen=3, generation=4, now=NOW)
    assert conditions_of(status) == expected
    assert (status.observed_generation, status.checked_at, status.message) == (4, NOW, expected["Ready"][2])


def test_checking_again_with_the_same_result_keeps_the_transition_times() -> None:
    first = checked(WORKS)
    again = connection.after_check(first, outcome=WORKS, orgs_seen=3, generation=2, now=NOW)
    assert {c.last_transition_time for c in again.conditions or ()} == {EARLIER}
    assert again.checked_at == NOW
    broken = connection.after_check(first, outcome=BAD_KEY, orgs_seen=0, generation=2, now=NOW)
    times = {c.type: c.last_transition_time for c in broken.conditions or ()}
    assert times == {"Ready": NOW, "Reconciling": EARLIER, "Stalled": NOW}


@pytest.mark.parametrize(
    ("previous", "checked_at"),
    [(None, None), (checked(WORKS), EARLIER)],
    ids=[
        "a connection invalid from the start was never checked",
        "an invalid connection keeps the time of its last check and makes none",
    ],
)
def test_an_invalid_connection_is_stalled_saying_what_is_wrong(
    previous: SnykConnectionStatus | None, checked_at: datetime | None
) -> None:
    status = connection.invalid(previous, problems="spec.region: unknown", generation=5, now=NOW)
    message = "the connection is invalid: spec.region: unknown"
    assert conditions_of(status) == {
        "Ready": ("False", "InvalidSpec", message),
        "Reconciling": ("False", "InvalidSpec", message),
        "Stalled": ("True", "InvalidSpec", message),
    }
    assert (status.observed_generation, status.checked_at, status.message) == (5, checked_at, message)


@pytest.mark.parametrize(
    ("status", "seconds"),
    [(checked(WORKS), 900.0), (checked(BAD_KEY), 60.0), (checked(SNYK_DOWN), 60.0), (SnykConnectionStatus(), 60.0)],
    ids=[
        "a working key is checked again in fifteen minutes",
        "a refused key is checked again in a minute",
        "Snyk unreachable is checked again in a minute",
        "a status with no conditions is checked again in a minute",
    ],
)
def test_next_check_in(status: SnykConnectionStatus, seconds: float) -> None:
    assert connection.next_check_in(status) == seconds
