"""Conditions: the three kstatus conditions and how a new set is merged with the previous one (a transition time
changes only with the status)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from snyk_broker_operator.models import Condition
from snyk_broker_operator.models.enums import ConditionReason, ConditionType
from snyk_broker_operator.reconcile import conditions
from snyk_broker_operator.reconcile.conditions import Wanted
from support.reconcile_builders import NOW

EARLIER = NOW - timedelta(hours=1)
READY, RECONCILING, STALLED = ConditionType.READY, ConditionType.RECONCILING, ConditionType.STALLED
RECONCILED, ROLLING = ConditionReason.RECONCILED, ConditionReason.ROLLING_OUT


def test_kstatus_gives_ready_reconciling_and_stalled_in_that_order_with_one_reason() -> None:
    assert conditions.kstatus(ROLLING, "rolling", ready=False, reconciling=True, stalled=False) == [
        Wanted(READY, False, ROLLING, "rolling"),
        Wanted(RECONCILING, True, ROLLING, "rolling"),
        Wanted(STALLED, False, ROLLING, "rolling"),
    ]


def test_kstatus_may_say_something_else_on_reconciling_only() -> None:
    wanted = conditions.kstatus(
        RECONCILED, "503", ready=False, reconciling=True, stalled=False, reconciling_message="retry"
    )
    assert [w.message for w in wanted] == ["503", "retry", "503"]


def previous(condition_type: ConditionType, status: str, reason: ConditionReason = RECONCILED) -> Condition:
    return Condition(type=condition_type, status=status, reason=reason, message="before", last_transition_time=EARLIER)


@pytest.mark.parametrize(
    ("before", "wanted", "since"),
    [
        (None, Wanted(READY, True, RECONCILED, "now"), NOW),
        ([previous(READY, "True")], Wanted(READY, True, RECONCILED, "now"), EARLIER),
        ([previous(READY, "True", ROLLING)], Wanted(READY, True, RECONCILED, "another message"), EARLIER),
        ([previous(READY, "False")], Wanted(READY, True, RECONCILED, "now"), NOW),
        ([previous(READY, "Unknown")], Wanted(READY, False, RECONCILED, "now"), NOW),
        ([previous(STALLED, "True")], Wanted(READY, True, RECONCILED, "now"), NOW),
    ],
    ids=[
        "a condition seen for the first time changed now",
        "an unchanged status keeps its lastTransitionTime",
        "a new reason and message with the same status keep the lastTransitionTime",
        "a status that flips changes now",
        "Unknown to False is a change",
        "another condition type's time is not borrowed",
    ],
)
def test_merge_keeps_the_transition_time_unless_the_status_changes(
    before: list[Condition] | None, wanted: Wanted, since: datetime
) -> None:
    (merged,) = conditions.merge(before, [wanted], generation=5, now=NOW)
    assert merged.last_transition_time == since
    assert (merged.type, merged.reason, merged.message, merged.observed_generation) == (
        wanted.type,
        wanted.reason,
        wanted.message,
        5,
    )
    assert merged.status == ("True" if wanted.is_true else "False")


def test_merge_keeps_the_wanted_order_and_drops_conditions_no_longer_wanted() -> None:
    before = [previous(STALLED, "True"), previous(READY, "False"), previous(ConditionType.RECONCILING, "False")]
    merged = conditions.merge(before, [Wanted(READY, False, RECONCILED, "m"), Wanted(STALLED, True, RECONCILED, "m")],
                              generation=1, now=NOW)  # fmt: skip
    assert [(c.type, c.last_transition_time) for c in merged] == [(READY, EARLIER), (STALLED, EARLIER)]


def test_merge_cuts_a_message_to_the_api_limit() -> None:
    (merged,) = conditions.merge(None, [Wanted(READY, True, RECONCILED, "x" * 40_000)], generation=1, now=NOW)
    assert len(merged.message) == conditions.MAX_MESSAGE == 32768
