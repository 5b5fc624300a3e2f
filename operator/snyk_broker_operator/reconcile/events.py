"""Every Event the operator records on a BrokerToken, derived in this one place: from a step that landed (what it
did, the observations before and after), and from a pass as a whole (status transitions and a new stall).

Events mark things that happened, so each is recorded once: a status transition is seen once, and a stall that is
already in the previous status is not reported again.
"""

from __future__ import annotations

import dataclasses
import enum

from snyk_broker_operator.models import BrokerTokenStatus, fingerprint_of
from snyk_broker_operator.models.enums import (
    ConditionReason,
    ConditionStatus,
    ConditionType,
    ConsumerState,
    EventReason,
    RotationPhase,
)
from snyk_broker_operator.reconcile import actions
from snyk_broker_operator.reconcile.desired import Desired
from snyk_broker_operator.reconcile.observed import Custody, Observed
from snyk_broker_operator.reconcile.outcome import Outcome


@dataclasses.dataclass(frozen=True)
class Notice:
    """An Event worth recording on the BrokerToken."""

    reason: EventReason | ConditionReason
    message: str
    warning: bool = False


class StepFact(enum.Enum):
    """What a step learned that its observations do not show, and an event must tell."""

    # Snyk had no provisional token left to switch to: the switch was taken as done.
    SWITCH_ASSUMED = enum.auto()


def for_step(
    action: actions.Action,
    before: Observed,
    after: Observed,
    *,
    desired: Desired,
    had_token: bool,
    facts: frozenset[StepFact] = frozenset(),
) -> list[Notice]:
    """The events of one step that landed. `had_token`: the status already showed a token before this pass."""
    match action:
        case actions.EnableBroker():
            return [
                Notice(
                    EventReason.TOKEN_ISSUED,
                    f"broker enabled on {action.integration_type} integration {action.integration_id} of org "
                    f"{action.org_id}; token {_fingerprint(after.custody)} is in custody",
                )
            ]
        case actions.AdoptExistingToken():
            return [
                Notice(EventReason.TOKEN_ADOPTED, f"token {_fingerprint(after.custody)} taken from {action.origin}")
            ]
        case actions.CloneIntegration() | actions.RecordShare():
            return _share_notices(before.custody, after.custody)
        case actions.WriteConsumerSecret():
            if action.repairs or had_token:
                what = ", ".join(action.repairs) or "recreated"
                return [Notice(EventReason.SECRET_RESTORED, f"Secret {desired.secret_name!r} restored ({what})")]
            return [Notice(EventReason.SECRET_WRITTEN, f"Secret {desired.secret_name!r} created")]
        case actions.RollConsumer():
            return [
                Notice(
                    EventReason.ROLLOUT_STARTED,
                    f"{action.kind} {action.name!r} is rolling onto token {action.fingerprint}",
                )
            ]
        case actions.BeginRotation():
            return [
                Notice(
                    EventReason.ROTATION_STARTED,
                    f"rotation started ({action.strategy.value}, trigger {action.trigger.value})",
                )
            ]
        case actions.SwitchToken():
            return _switch_notices(before, after, facts)
        case actions.FinishRotation():
            custody = after.custody
            assert custody is not None
            shared = f"; {len(custody.clones)} other org(s) share it" if custody.clones else ""
            return [
                Notice(
                    EventReason.ROTATION_COMPLETED,
                    f"revision {custody.revision}: consumers run token {_fingerprint(custody)}{shared}",
                )
            ]
    return []


def for_pass(
    previous: BrokerTokenStatus | None, new: BrokerTokenStatus, outcome: Outcome, *, rotating: bool
) -> list[Notice]:
    """The events of a pass as a whole: consumer rollouts that finished or failed, a redundancy warning that
    appeared in status.warnings, and a stall that is new (with RotationFailed when it stops a rotation)."""
    found = _transitions(previous, new)
    stall = outcome.stall
    if stall is not None and not _already_stalled(previous, stall):
        found.append(Notice(stall.reason, stall.message, warning=True))
        if rotating:
            found.append(Notice(EventReason.ROTATION_FAILED, stall.message, warning=True))
    return found


def _share_notices(before: Custody | None, after: Custody | None) -> list[Notice]:
    if after is None:
        return []
    old_clones = before.clones if before else {}
    old_conflicts = before.conflicts if before else {}
    found = [
        Notice(
            EventReason.SHARED_WITH_ORG,
            f"integration cloned into org {org_id} as {integration_id}; it uses the same broker token",
        )
        for org_id, integration_id in after.clones.items()
        if org_id not in old_clones
    ]
    found += [
        Notice(
            EventReason.SHARE_CONFLICT,
            f"org {org_id} already has integration {integration_id} of this type; left as it is",
            warning=True,
        )
        for org_id, integration_id in after.conflicts.items()
        if org_id not in old_conflicts
    ]
    return found


def _switch_notices(before: Observed, after: Observed, facts: frozenset[StepFact]) -> list[Notice]:
    record = after.rotation
    assert record is not None and record.token is not None
    token = fingerprint_of(record.token)
    found = []
    if before.rotation is not None and before.rotation.phase == RotationPhase.BRIDGING:
        found.append(Notice(EventReason.BRIDGE_READY, f"{len(before.bridges)} bridge(s) available on the new token"))
    if StepFact.SWITCH_ASSUMED in facts:
        found.append(
            Notice(
                EventReason.SWITCH_ASSUMED,
                "Snyk reports no provisional token left to switch to, so the switch to "
                f"{token} is taken as done (an earlier answer was lost). If the integration's broker "
                "settings were changed meanwhile, check that broker clients connect",
            )
        )
    shared = len(after.custody.clones) if after.custody else 0
    also = f" and the {shared} integration(s) cloned into other orgs" if shared else ""
    found.append(Notice(EventReason.TOKEN_SWITCHED, f"Snyk now routes the integration{also} to token {token}"))
    return found


def _transitions(previous: BrokerTokenStatus | None, new: BrokerTokenStatus) -> list[Notice]:
    found: list[Notice] = []
    before = {(c.kind, c.name): c.state for c in (previous.consumers or ())} if previous else {}
    for consumer in new.consumers or ():
        was = before.get((consumer.kind, consumer.name))
        label = f"{consumer.kind.value} {consumer.name!r}"
        if consumer.state == ConsumerState.CURRENT and was in (ConsumerState.ROLLING_OUT, ConsumerState.PENDING):
            found.append(Notice(EventReason.ROLLOUT_COMPLETED, f"{label} runs token {consumer.fingerprint}"))
        if consumer.state == ConsumerState.FAILED and was != ConsumerState.FAILED:
            found.append(
                Notice(
                    EventReason.ROLLOUT_FAILED,
                    f"{label} cannot roll out: {consumer.reason}: {consumer.message}",
                    warning=True,
                )
            )
    # A redundancy warning is reported when it appears in status.warnings, which keeps it however the conditions
    # move meanwhile (a rollout hides it from the Ready reason, and must not make it appear twice).
    warned_before = {w.reason for w in (previous.warnings or ())} if previous else set()
    found += [
        Notice(warning.reason, warning.message, warning=True)
        for warning in new.warnings or ()
        if warning.reason not in warned_before
    ]
    return found


def _already_stalled(previous: BrokerTokenStatus | None, stall: actions.Stall) -> bool:
    """Whether the previous status already reported this very stall (so its event was recorded then)."""
    condition = previous.condition(ConditionType.STALLED) if previous else None
    return (
        condition is not None
        and condition.status == ConditionStatus.TRUE
        and condition.reason == stall.reason
        and condition.message == stall.message
    )


def _fingerprint(custody: Custody | None) -> str:
    assert custody is not None and custody.token is not None
    return fingerprint_of(custody.token)
