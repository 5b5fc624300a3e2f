"""Conditions that keep their lastTransitionTime unless their status really changes (so a resync changes none)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from snyk_broker_operator.models import Condition
from snyk_broker_operator.models.enums import ConditionReason, ConditionStatus, ConditionType

# metav1.Condition's limit on a message; a longer one is cut rather than refused by the API server.
MAX_MESSAGE = 32768


@dataclasses.dataclass(frozen=True)
class Wanted:
    """One condition as the operator wants it now, before transition times are merged in."""

    type: ConditionType
    is_true: bool
    reason: ConditionReason
    message: str


def kstatus(
    reason: ConditionReason,
    message: str,
    *,
    ready: bool,
    reconciling: bool,
    stalled: bool,
    reconciling_message: str | None = None,
) -> list[Wanted]:
    """The three conditions every object carries (Ready, Reconciling, Stalled), in that order, with one reason."""
    return [
        Wanted(ConditionType.READY, ready, reason, message),
        Wanted(ConditionType.RECONCILING, reconciling, reason, reconciling_message or message),
        Wanted(ConditionType.STALLED, stalled, reason, message),
    ]


def merge(
    previous: Iterable[Condition] | None, wanted: Iterable[Wanted], *, generation: int, now: datetime
) -> tuple[Condition, ...]:
    """The wanted conditions, in the order given; each keeps its old transition time if its status is unchanged."""
    before = {condition.type: condition for condition in previous or ()}
    merged = []
    for want in wanted:
        status = ConditionStatus.TRUE if want.is_true else ConditionStatus.FALSE
        old = before.get(want.type)
        since = old.last_transition_time if old is not None and old.status == status else now
        merged.append(
            Condition(
                type=want.type,
                status=status,
                reason=want.reason,
                message=want.message[:MAX_MESSAGE],
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return tuple(merged)
