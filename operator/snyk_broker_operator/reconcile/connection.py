"""A (Cluster)SnykConnection's status, decided purely: when its credentials are checked again, and the kstatus
conditions a check's outcome gives (Ready when the key works; Stalled when a human must fix the key, its Secret or
the spec; Reconciling while Snyk cannot be reached and the check is retried).

The result is cached in the status itself: a check younger than CHECK_INTERVAL for the same generation is not
repeated, so an operator restart makes no Snyk call for a healthy connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from snyk_broker_operator.models import SnykConnectionStatus
from snyk_broker_operator.models.enums import ConditionReason, ConditionStatus, ConditionType
from snyk_broker_operator.reconcile import conditions
from snyk_broker_operator.reconcile.outcome import Outcome

CHECK_INTERVAL = timedelta(minutes=15)
RETRY_BROKEN = timedelta(minutes=1)


def is_ready(status: SnykConnectionStatus | None) -> bool:
    condition = status.condition(ConditionType.READY) if status else None
    return condition is not None and condition.status == ConditionStatus.TRUE


def check_due_in(previous: SnykConnectionStatus | None, *, generation: int, now: datetime) -> float | None:
    """Seconds until the next credential check, or None when one is due now (never checked, spec changed, stale)."""
    if previous is None or previous.checked_at is None or previous.observed_generation != generation:
        return None
    due = previous.checked_at + (CHECK_INTERVAL if is_ready(previous) else RETRY_BROKEN)
    return (due - now).total_seconds() if due > now else None


def after_check(
    previous: SnykConnectionStatus | None, *, outcome: Outcome, orgs_seen: int, generation: int, now: datetime
) -> SnykConnectionStatus:
    """The status once the credentials were checked; `outcome` is settled when the key worked."""
    if outcome.stall is not None:
        message = outcome.stall.message
        wanted = conditions.kstatus(outcome.stall.reason, message, ready=False, reconciling=False, stalled=True)
    elif outcome.failure is not None:
        message = outcome.failure.message
        wanted = conditions.kstatus(
            outcome.failure.reason,
            message,
            ready=False,
            reconciling=True,
            stalled=False,
            reconciling_message=f"{message}; checking again in {int(RETRY_BROKEN.total_seconds())} s",
        )
    else:
        message = f"credentials work; the API key sees {orgs_seen} org(s)"
        wanted = conditions.kstatus(ConditionReason.RECONCILED, message, ready=True, reconciling=False, stalled=False)
    return SnykConnectionStatus(
        observed_generation=generation,
        conditions=conditions.merge(previous.conditions if previous else None, wanted, generation=generation, now=now),
        checked_at=now,
        message=message,
    )


def invalid(
    previous: SnykConnectionStatus | None, *, problems: str, generation: int, now: datetime
) -> SnykConnectionStatus:
    """The status of a connection the models refuse: Stalled, saying what is wrong; no check is made."""
    message = f"the connection is invalid: {problems}"
    wanted = conditions.kstatus(ConditionReason.INVALID_SPEC, message, ready=False, reconciling=False, stalled=True)
    return SnykConnectionStatus(
        observed_generation=generation,
        conditions=conditions.merge(previous.conditions if previous else None, wanted, generation=generation, now=now),
        checked_at=previous.checked_at if previous else None,
        message=message,
    )


def next_check_in(status: SnykConnectionStatus) -> float:
    """Seconds until the next check after one that produced `status`."""
    return (CHECK_INTERVAL if is_ready(status) else RETRY_BROKEN).total_seconds()
