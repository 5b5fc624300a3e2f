"""Events that mark a change between two statuses (a rollout finished or failed, a redundancy warning appeared).

Derived from the previous and the new status only, so they are recorded once per change, never once per pass.
"""

from __future__ import annotations

from snyk_broker_operator.models import BrokerTokenStatus
from snyk_broker_operator.models.enums import ConditionType, ConsumerState

WARNING_REASONS = frozenset({"HAClientLimitExceeded", "ClientURLMismatch"})


def notices(previous: BrokerTokenStatus | None, new: BrokerTokenStatus) -> list[tuple[str, str, bool]]:
    """(reason, message, warning) for every transition worth an event."""
    found: list[tuple[str, str, bool]] = []
    before = {(c.kind, c.name): c.state for c in (previous.consumers or ()) if previous} if previous else {}
    for consumer in new.consumers or ():
        was = before.get((consumer.kind, consumer.name))
        label = f"{consumer.kind.value} {consumer.name!r}"
        if consumer.state == ConsumerState.CURRENT and was in (ConsumerState.ROLLING_OUT, ConsumerState.PENDING):
            found.append(("RolloutCompleted", f"{label} runs token {consumer.fingerprint}", False))
        if consumer.state == ConsumerState.FAILED and was != ConsumerState.FAILED:
            found.append(("RolloutFailed", f"{label} cannot roll out: {consumer.reason}: {consumer.message}", True))
    ready_before = previous.condition(ConditionType.READY) if previous else None
    ready_now = new.condition(ConditionType.READY)
    appeared = ready_now is not None and (ready_before is None or ready_before.reason != ready_now.reason)
    if ready_now is not None and appeared and ready_now.reason in WARNING_REASONS:
        found.append((ready_now.reason, ready_now.message, True))
    return found
