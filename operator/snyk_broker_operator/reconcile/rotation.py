"""Token rotation as a persisted state machine: when one is due, and the next step of one in progress.

The state lives in the operator-owned rotation Secret (phase, strategy, trigger, and the provisional token itself),
so every step is safe to repeat after a crash and a restarted operator continues from the recorded phase.

    Bridge:  Provisioned -> Bridging -> Switched -> RollingOut -> (bridges and record deleted)
    InPlace: Provisioned -> RollingOut -> Switched -> (record deleted)

The rotation Secret is written *before* the provision call (phase Provisioned, no token yet) and the token right
after it: a record without a token therefore means "a provision call may have happened". Asking again is safe,
because Snyk refuses a second provisional token while one is outstanding; it never yields two.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta

from pydantic import SecretStr

from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.models.enums import (
    ConditionReason,
    ConsumerState,
    RotationPhase,
    RotationStrategy,
    RotationTrigger,
)
from snyk_broker_operator.reconcile import actions
from snyk_broker_operator.reconcile.consumers import HA_CLIENT_LIMIT, Workload, state_of

# Jitter spreads rotations of many tokens configured alike: at most 10% of the interval, at most 5 minutes.
JITTER_SHARE = 0.1
JITTER_CAP = timedelta(minutes=5)
# How often an in-progress rotation is looked at while it waits on pods.
POLL_SECONDS = 2.0
# Snyk serves at most this many HA clients per token; the bridges all run on the provisional one.
MAX_BRIDGES = HA_CLIENT_LIMIT


@dataclasses.dataclass(frozen=True)
class RotationRecord:
    """A rotation in progress, as read back from its Secret."""

    phase: RotationPhase
    strategy: RotationStrategy
    trigger: RotationTrigger
    started_at: datetime | None
    request: str | None
    token: SecretStr | None
    # When the rotation entered `phase` (None in a record written before this field existed).
    phase_since: datetime | None = None
    # When a provision call was made whose answer is not saved yet (None once it is, or when Snyk said no).
    provision_started_at: datetime | None = None


@dataclasses.dataclass(frozen=True)
class RotationIntent:
    """What the spec and annotations ask of rotation."""

    every: timedelta | None
    strategy: RotationStrategy
    requested: str | None


def jitter(uid: str, every: timedelta) -> timedelta:
    """A fixed fraction, derived from the object's uid, of min(10% of the interval, 5 minutes)."""
    fraction = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return timedelta(seconds=int(min(every * JITTER_SHARE, JITTER_CAP).total_seconds() * fraction))


def next_rotation_at(*, issued_at: datetime | None, intent: RotationIntent, uid: str) -> datetime | None:
    if intent.every is None or issued_at is None:
        return None
    return issued_at + intent.every + jitter(uid, intent.every)


def due(
    *, intent: RotationIntent, last_request: str | None, issued_at: datetime | None, uid: str, now: datetime
) -> RotationTrigger | None:
    """Why a rotation should start now, if it should."""
    if intent.requested and intent.requested != last_request:
        return RotationTrigger.ANNOTATION
    when = next_rotation_at(issued_at=issued_at, intent=intent, uid=uid)
    if when is not None and now >= when:
        return RotationTrigger.SCHEDULE
    return None


def bridges_ready(bridges: tuple[Workload, ...], provisional: str) -> tuple[bool, list[Workload]]:
    """(all bridges available on the provisional token, the bridges that failed to progress)."""
    states = [(bridge, state_of(bridge, provisional)[0]) for bridge in bridges]
    failed = [bridge for bridge, state in states if state == ConsumerState.FAILED]
    return bool(states) and all(state == ConsumerState.CURRENT for _, state in states), failed


def all_current(workloads: tuple[Workload, ...], fingerprint: str) -> bool:
    return all(state_of(w, fingerprint)[0] == ConsumerState.CURRENT for w in workloads)


def step(
    *,
    record: RotationRecord,
    org_id: str,
    integration_id: str,
    current_token: SecretStr,
    consumers: tuple[Workload, ...],
    bridges: tuple[Workload, ...],
) -> actions.Decision:
    """The next step of a rotation in progress (after the token's Secret and its consumers are otherwise settled)."""
    if record.token is None:
        return _do(actions.ProvisionToken(org_id=org_id, integration_id=integration_id))
    switch = _do(actions.SwitchToken(org_id=org_id, integration_id=integration_id))
    bridged = consumers[:MAX_BRIDGES]
    # Bridges need the cluster to act (pods to start) before anything more can be decided: the pass ends there.
    ensure_bridges = actions.Decision(
        actions=(actions.EnsureBridges(consumers=tuple(w.name for w in bridged)),), wait_seconds=POLL_SECONDS
    )
    phase = record.phase
    if record.strategy == RotationStrategy.BRIDGE:
        if phase == RotationPhase.PROVISIONED:
            return ensure_bridges if bridged else switch  # no consumer runs on the token: nothing to bridge
        if phase == RotationPhase.BRIDGING:
            return _when_bridges_ready(bridges, bridged, record.token, ensure_bridges, switch)
        if phase == RotationPhase.SWITCHED:
            return _do(actions.PromoteProvisional())
        if phase == RotationPhase.ROLLING_OUT:
            return _when_consumers_current(consumers, current_token, then=_do(actions.FinishRotation()))
    else:
        if phase == RotationPhase.PROVISIONED:
            return _do(actions.PromoteProvisional())
        if phase == RotationPhase.ROLLING_OUT:
            return _when_consumers_current(consumers, current_token, then=switch)
    return _do(actions.FinishRotation())


def _when_bridges_ready(
    bridges: tuple[Workload, ...],
    bridged: tuple[Workload, ...],
    provisional: SecretStr,
    ensure_bridges: actions.Decision,
    switch: actions.Decision,
) -> actions.Decision:
    ready, failed = bridges_ready(bridges, fingerprint_of(provisional))
    if ready:
        return switch
    if len(bridges) < len(bridged):
        return ensure_bridges
    if not failed:
        return actions.Decision(wait_seconds=POLL_SECONDS)
    names = ", ".join(repr(b.name) for b in failed)
    stall = actions.Stall(
        ConditionReason.BRIDGE_UNAVAILABLE,
        f"bridge {names} cannot become available ({failed[0].deadline_exceeded}); the old token keeps serving and "
        "the switch waits. Fix what keeps the pods from running (bridges copy the consumers' pod templates); the "
        "rotation then resumes with the same provisional token",
    )
    return actions.Decision(stall=stall, wait_seconds=POLL_SECONDS)


def _when_consumers_current(
    consumers: tuple[Workload, ...], token: SecretStr, *, then: actions.Decision
) -> actions.Decision:
    return then if all_current(consumers, fingerprint_of(token)) else actions.Decision(wait_seconds=POLL_SECONDS)


def _do(action: actions.Action) -> actions.Decision:
    return actions.Decision(actions=(action,))
