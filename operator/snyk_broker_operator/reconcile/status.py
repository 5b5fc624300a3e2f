"""`compute_status`: the whole BrokerToken status from intent, observations and outcome; pure, written once.

Everything durable comes from custody (token fingerprint, integration, clones); only the bookkeeping of failures and
condition transition times comes from the previous status. Comparing the result with the stored status is how
`engine.cycle` knows whether to write at all. `invalid` is the status of an object the models refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from snyk_broker_operator.models import (
    BrokerTokenStatus,
    ConsumerStatus,
    RedundancyWarning,
    RotationStatus,
    SharedWithStatus,
    fingerprint_of,
)
from snyk_broker_operator.models.brokertoken_status import MAX_CONSUMERS
from snyk_broker_operator.models.common import FINGERPRINT_PATTERN
from snyk_broker_operator.models.enums import ConditionReason, ConditionType, ConsumerKind, ConsumerState, ShareState
from snyk_broker_operator.reconcile import conditions, consumers, rotation
from snyk_broker_operator.reconcile.desired import Desired
from snyk_broker_operator.reconcile.observed import Custody, Observed, SecretState
from snyk_broker_operator.reconcile.outcome import Outcome
from snyk_broker_operator.reconcile.rotation import RotationRecord


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
        issued_at=custody.issued_at if custody else None,
        shared_with=_shared_with(desired, custody),
        consumers=_listed(consumer_statuses) or None,
        warnings=tuple(
            RedundancyWarning(reason=reason, message=message)
            for reason, message in consumers.redundancy_warnings(observed.consumers)
        )
        or None,
        consumers_ready=_ready_count(consumer_statuses) if custody else None,
        rotation=_rotation(observed.rotation),
        last_rotate_request=custody.last_rotate_request if custody else None,
        next_rotation_at=rotation.next_rotation_at(
            issued_at=custody.issued_at, intent=desired.rotation, uid=desired.uid
        )
        if custody
        else None,
        failed_attempts=failed_attempts or None,
        # Kept while failures go on; gone once a pass succeeds (failedAttempts goes back to none with it).
        last_failure_time=now if failed else None,
    )


def first_status(desired: Desired, *, now: datetime) -> BrokerTokenStatus:
    """The status of an object seen for the first time: being worked on (Reconciling), nothing obtained yet."""
    nothing = Observed(custody=None, consumer=SecretState.absent(), source=None)
    return compute_status(desired=desired, observed=nothing, outcome=Outcome(pending=True), previous=None, now=now)


_FINGERPRINT = re.compile(FINGERPRINT_PATTERN)
# Consumers a condition's message names one by one; the others are counted.
MESSAGE_NAMES = 10
# An invalid object's message lists pydantic's errors; beyond this it is noise.
MAX_INVALID_MESSAGE = 2048


def invalid(previous: BrokerTokenStatus | None, *, problems: str, generation: int, now: datetime) -> BrokerTokenStatus:
    """The status of an object the schema let through but the models refuse (an older CRD, say): Stalled, saying
    what is wrong; everything else the previous status recorded is kept, and nothing else is touched."""
    message = f"the BrokerToken is invalid: {problems}"[:MAX_INVALID_MESSAGE]
    base = previous if previous is not None else BrokerTokenStatus()
    return base.model_copy(
        update={
            "observed_generation": generation,
            "conditions": conditions.merge(
                base.conditions,
                _stalled(ConditionReason.INVALID_SPEC, message),
                generation=generation,
                now=now,
            ),
        }
    )


def _stalled(reason: ConditionReason, message: str) -> list[conditions.Wanted]:
    return conditions.kstatus(reason, message, ready=False, reconciling=False, stalled=True)


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


def _listed(entries: tuple[ConsumerStatus, ...]) -> tuple[ConsumerStatus, ...]:
    """The consumers status.consumers shows: all of them up to the schema's limit; beyond it, those not on the
    current token first (what a reader is looking for), the rest as room allows, in the usual kind-then-name order.
    status.consumersReady still counts every consumer."""
    if len(entries) <= MAX_CONSUMERS:
        return entries
    behind = [e for e in entries if e.state != ConsumerState.CURRENT]
    current = [e for e in entries if e.state == ConsumerState.CURRENT]
    shown = (behind + current)[:MAX_CONSUMERS]
    return tuple(sorted(shown, key=lambda e: (e.kind.value, e.name)))


def _named(entries: list[ConsumerStatus], describe: Callable[[ConsumerStatus], str], separator: str = ", ") -> str:
    """`describe` of the first MESSAGE_NAMES entries, and how many more there are: a condition names the consumers
    it waits for, and a hundred names would bury the point."""
    described = separator.join(describe(e) for e in entries[:MESSAGE_NAMES])
    more = len(entries) - MESSAGE_NAMES
    return described + (f" and {more} more" if more > 0 else "")


def _rotation(record: RotationRecord | None) -> RotationStatus | None:
    if record is None:
        return None
    return RotationStatus(
        phase=record.phase,
        strategy=record.strategy,
        started_at=record.started_at,
        phase_since=record.phase_since,
        provisional_fingerprint=fingerprint_of(record.token) if record.token else None,
        trigger=record.trigger,
    )


def _ready_count(entries: tuple[ConsumerStatus, ...]) -> str:
    return f"{sum(1 for e in entries if e.state == ConsumerState.CURRENT)}/{len(entries)}"


def _consumer_conditions(entries: tuple[ConsumerStatus, ...]) -> list[conditions.Wanted] | None:
    """Conditions while consumers are not all on the current token; None when they are."""
    failed = [e for e in entries if e.state == ConsumerState.FAILED]
    if failed:
        message = _named(failed, lambda e: f"{e.kind.value} {e.name!r} cannot roll out: {e.reason}: {e.message}", "; ")
        return conditions.kstatus(
            ConditionReason.CONSUMER_ROLLOUT_FAILED, message, ready=False, reconciling=False, stalled=True
        )
    behind = [e for e in entries if e.state != ConsumerState.CURRENT]
    if not behind:
        return None
    waiting = _named(behind, lambda e: f"{e.kind.value} {e.name!r} ({e.message})")
    message = f"{len(entries) - len(behind)}/{len(entries)} consumers run the current token; waiting for {waiting}"
    return conditions.kstatus(ConditionReason.ROLLING_OUT, message, ready=False, reconciling=True, stalled=False)


def _wanted_conditions(
    desired: Desired,
    custody: Custody | None,
    outcome: Outcome,
    observed: Observed,
    entries: tuple[ConsumerStatus, ...],
) -> list[conditions.Wanted]:
    if outcome.stall is not None:
        return _stalled(outcome.stall.reason, outcome.stall.message)
    if outcome.failure is not None:
        message = outcome.failure.message
        return conditions.kstatus(
            outcome.failure.reason,
            message,
            ready=False,
            reconciling=True,
            stalled=False,
            reconciling_message=f"{message}; retrying with backoff",
        )
    if outcome.pending or custody is None:
        return conditions.kstatus(
            ConditionReason.PROGRESSING, "obtaining the broker token", ready=False, reconciling=True, stalled=False
        )
    rolling = _consumer_conditions(entries)
    if rolling is not None:
        return rolling
    if observed.rotation is not None:
        message = f"rotating ({observed.rotation.strategy.value}), phase {observed.rotation.phase.value}; the " + (
            "current token keeps serving"
        )
        return conditions.kstatus(ConditionReason.ROTATING, message, ready=True, reconciling=True, stalled=False)
    message = _ready_message(desired, custody, len(entries))
    ready_reason = ConditionReason.RECONCILED
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
