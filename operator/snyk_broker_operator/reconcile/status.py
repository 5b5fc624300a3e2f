"""`compute_status`: the whole BrokerToken status from intent, observations and outcome; pure, written once.

Everything durable comes from custody (token fingerprint, integration, clones); only the bookkeeping of failures and
condition transition times comes from the previous status. Comparing the result with the stored status is how the
handler knows whether to write at all.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from snyk_broker_operator.models import (
    BrokerTokenStatus,
    ConsumerStatus,
    RotationStatus,
    SharedWithStatus,
    fingerprint_of,
)
from snyk_broker_operator.models.enums import ConditionReason, ConditionType, ConsumerKind, ConsumerState, ShareState
from snyk_broker_operator.reconcile import conditions, consumers, rotation, timestamps
from snyk_broker_operator.reconcile.desired import Desired
from snyk_broker_operator.reconcile.observed import Custody, Observed
from snyk_broker_operator.reconcile.outcome import Outcome
from snyk_broker_operator.reconcile.rotation import RotationRecord

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0


def backoff_seconds(failed_attempts: int) -> float:
    """5 s, 10 s, 20 s ... capped at 5 minutes: a broken connection is retried, never in a hot loop."""
    if failed_attempts <= 0:
        return 0.0
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * math.pow(2, failed_attempts - 1))


def compute_status(
    *,
    desired: Desired,
    observed: Observed,
    outcome: Outcome,
    previous: BrokerTokenStatus | None,
    now: datetime,
) -> BrokerTokenStatus:
    custody = observed.custody if observed.custody and observed.custody.token else None
    consumer_statuses = _consumers(observed, custody)
    # A stall that is polled (a rotation waiting on pods) is a wait, not a failed attempt to back off from.
    failed = outcome.failure is not None or (outcome.stall is not None and outcome.wait_seconds is None)
    previous_failures = (previous.failed_attempts or 0) if previous else 0
    failed_attempts = previous_failures + 1 if failed else 0
    last_failure_time = now if failed else (previous.last_failure_time if previous else None)
    return BrokerTokenStatus(
        observed_generation=desired.generation,
        conditions=conditions.merge(
            previous.conditions if previous else None,
            _wanted_conditions(desired, custody, outcome, observed, consumer_statuses),
            generation=desired.generation,
            now=now,
        ),
        integration_id=custody.integration_id if custody else None,
        token_fingerprint=fingerprint_of(custody.token) if custody and custody.token else None,
        revision=custody.revision if custody else None,
        issued_at=timestamps.parse(custody.issued_at) if custody else None,
        shared_with=_shared_with(desired, custody),
        consumers=consumer_statuses or None,
        consumers_ready=_ready_count(consumer_statuses) if custody else None,
        rotation=_rotation(observed.rotation),
        last_rotate_request=custody.last_rotate_request if custody else None,
        next_rotation_at=rotation.next_rotation_at(
            issued_at=timestamps.parse(custody.issued_at), intent=desired.rotation, uid=desired.uid
        )
        if custody
        else None,
        failed_attempts=failed_attempts or None,
        last_failure_time=last_failure_time if failed_attempts else None,
    )


_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{12}$")


def _consumers(observed: Observed, custody: Custody | None) -> tuple[ConsumerStatus, ...]:
    if custody is None or custody.token is None:
        return ()
    current = fingerprint_of(custody.token)
    entries = []
    for workload in observed.consumers:
        state, reason, message = consumers.state_of(workload, current)
        shown = workload.fingerprint if workload.fingerprint and _FINGERPRINT.match(workload.fingerprint) else None
        entries.append(
            ConsumerStatus(
                kind=ConsumerKind(workload.kind),
                name=workload.name,
                fingerprint=shown,
                desired_replicas=workload.replicas,
                updated_replicas=workload.updated_replicas,
                available_replicas=workload.available_replicas,
                state=state,
                reason=reason,
                message=message,
            )
        )
    return tuple(entries)


def _rotation(record: RotationRecord | None) -> RotationStatus | None:
    if record is None:
        return None
    return RotationStatus(
        phase=record.phase,
        strategy=record.strategy,
        started_at=timestamps.parse(record.started_at),
        provisional_fingerprint=fingerprint_of(record.token) if record.token else None,
        trigger=record.trigger,
    )


def _ready_count(entries: tuple[ConsumerStatus, ...]) -> str:
    return f"{sum(1 for e in entries if e.state == ConsumerState.CURRENT)}/{len(entries)}"


def _consumer_conditions(entries: tuple[ConsumerStatus, ...]) -> list[conditions.Wanted] | None:
    """Conditions while consumers are not all on the current token; None when they are."""
    failed = [e for e in entries if e.state == ConsumerState.FAILED]
    if failed:
        message = "; ".join(f"{e.kind.value} {e.name!r} cannot roll out: {e.reason}: {e.message}" for e in failed)
        reason = ConditionReason.CONSUMER_ROLLOUT_FAILED
        return [
            conditions.Wanted(ConditionType.READY, False, reason, message),
            conditions.Wanted(ConditionType.RECONCILING, False, reason, message),
            conditions.Wanted(ConditionType.STALLED, True, reason, message),
        ]
    behind = [e for e in entries if e.state != ConsumerState.CURRENT]
    if not behind:
        return None
    waiting = ", ".join(f"{e.kind.value} {e.name!r} ({e.message})" for e in behind)
    message = f"{len(entries) - len(behind)}/{len(entries)} consumers run the current token; waiting for {waiting}"
    reason = ConditionReason.ROLLING_OUT
    return [
        conditions.Wanted(ConditionType.READY, False, reason, message),
        conditions.Wanted(ConditionType.RECONCILING, True, reason, message),
        conditions.Wanted(ConditionType.STALLED, False, reason, message),
    ]


def _wanted_conditions(
    desired: Desired,
    custody: Custody | None,
    outcome: Outcome,
    observed: Observed,
    entries: tuple[ConsumerStatus, ...],
) -> list[conditions.Wanted]:
    if outcome.stall is not None:
        reason, message = outcome.stall.reason, outcome.stall.message
        return [
            conditions.Wanted(ConditionType.READY, False, reason, message),
            conditions.Wanted(ConditionType.RECONCILING, False, reason, message),
            conditions.Wanted(ConditionType.STALLED, True, reason, message),
        ]
    if outcome.failure is not None:
        reason, message = outcome.failure.reason, outcome.failure.message
        return [
            conditions.Wanted(ConditionType.READY, False, reason, message),
            conditions.Wanted(ConditionType.RECONCILING, True, reason, f"{message}; retrying with backoff"),
            conditions.Wanted(ConditionType.STALLED, False, reason, message),
        ]
    if outcome.pending or custody is None:
        message = "obtaining the broker token"
        return [
            conditions.Wanted(ConditionType.READY, False, ConditionReason.PROGRESSING, message),
            conditions.Wanted(ConditionType.RECONCILING, True, ConditionReason.PROGRESSING, message),
            conditions.Wanted(ConditionType.STALLED, False, ConditionReason.PROGRESSING, message),
        ]
    rolling = _consumer_conditions(entries)
    if rolling is not None:
        return rolling
    if observed.rotation is not None:
        message = f"rotating ({observed.rotation.strategy.value}), phase {observed.rotation.phase.value}; the " + (
            "current token keeps serving"
        )
        reason = ConditionReason.ROTATING
        return [
            conditions.Wanted(ConditionType.READY, True, reason, message),
            conditions.Wanted(ConditionType.RECONCILING, True, reason, message),
            conditions.Wanted(ConditionType.STALLED, False, reason, message),
        ]
    message = _ready_message(desired, custody, len(entries))
    ready_reason: str = ConditionReason.RECONCILED
    warnings = consumers.redundancy_warnings(observed.consumers)
    if warnings:
        # Still Ready (the token works), but the reason and message say what Snyk will not support.
        ready_reason = warnings[0][0]
        message = "; ".join([message, *(text for _, text in warnings)])
    return [
        conditions.Wanted(ConditionType.READY, True, ready_reason, message),
        conditions.Wanted(ConditionType.RECONCILING, False, ConditionReason.RECONCILED, message),
        conditions.Wanted(ConditionType.STALLED, False, ConditionReason.RECONCILED, message),
    ]


def _ready_message(desired: Desired, custody: Custody, consumer_count: int) -> str:
    assert custody.token is not None
    parts = [f"token {fingerprint_of(custody.token)} is in Secret {desired.secret_name!r}"]
    if consumer_count:
        parts.append(f"{consumer_count} consumer(s) run it")
    if custody.clones:
        parts.append(f"shared with {len(custody.clones)} org(s)")
    if custody.conflicts:
        orgs = ", ".join(sorted(custody.conflicts))
        parts.append(f"not shared with {orgs}: the org already has an integration of this type")
    return "; ".join(parts)


def _shared_with(desired: Desired, custody: Custody | None) -> tuple[SharedWithStatus, ...] | None:
    if custody is None or not desired.share_with:
        return None
    entries = []
    for org_id in desired.share_with:
        if org_id in custody.clones:
            entries.append(
                SharedWithStatus(org_id=org_id, integration_id=custody.clones[org_id], state=ShareState.SHARED)
            )
        elif org_id in custody.conflicts:
            entries.append(
                SharedWithStatus(
                    org_id=org_id,
                    integration_id=custody.conflicts[org_id],
                    state=ShareState.CONFLICT,
                    message="the org already has an integration of this type; it was left as it is. Remove it "
                    "in Snyk (or from spec.shareWith) to share this token",
                )
            )
    return tuple(entries) or None
