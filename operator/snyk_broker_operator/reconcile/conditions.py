"""Conditions that keep their lastTransitionTime unless their status really changes (so a resync changes none)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from snyk_broker_operator.models import Condition
from snyk_broker_operator.models.enums import ConditionStatus


@dataclasses.dataclass(frozen=True)
class Wanted:
    type: str
    true: bool
    reason: str
    message: str


def merge(
    previous: Iterable[Condition] | None, wanted: Iterable[Wanted], *, generation: int, now: datetime
) -> tuple[Condition, ...]:
    """The wanted conditions, in the order given; each keeps its old transition time if its status is unchanged."""
    before = {condition.type: condition for condition in previous or ()}
    merged = []
    for want in wanted:
        status = ConditionStatus.TRUE if want.true else ConditionStatus.FALSE
        old = before.get(want.type)
        since = old.last_transition_time if old is not None and old.status == status else now
        merged.append(
            Condition(
                type=want.type,
                status=status,
                reason=want.reason,
                message=want.message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return tuple(merged)
