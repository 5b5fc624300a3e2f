"""`decide`: from a BrokerToken's intent and what was observed, the next actions to take, or why none can be taken.

Pure and level-based: every trigger runs the same function on fresh observations. It returns the next step only;
`engine.executor` applies it, folds the result into `Observed`, and asks again until the decision is converged,
stalled, waiting, or a step failed. A converged BrokerToken therefore decides nothing, which keeps a resync quiet.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import SecretStr

from snyk_broker_operator.models import BROKER_TOKEN_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, fingerprint_of
from snyk_broker_operator.models.enums import ConditionReason, RotationPhase, RotationTrigger
from snyk_broker_operator.models.names import label_value
from snyk_broker_operator.reconcile import actions, rotation
from snyk_broker_operator.reconcile.desired import Desired, SourceKind, rotation_secret_name
from snyk_broker_operator.reconcile.manifests import consumer_secret_repairs, same_secret
from snyk_broker_operator.reconcile.observed import Custody, Observed, SecretState


def origin_of(desired: Desired) -> str:
    """Where the token must come from; a custody token of another origin belongs to an older spec."""
    if desired.source is SourceKind.EXISTING_SECRET and desired.existing_secret is not None:
        return f"secret/{desired.existing_secret.name}/{desired.existing_secret.key}"
    integration = desired.integration_id or f"type:{desired.integration_type}"
    return f"org/{desired.org_id}/integration/{integration}"


def is_uuid4(value: str) -> bool:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == value.lower().strip()


# A token that changed less than this long ago is not rolled out yet: a burst of changes becomes one rollout.
ROLL_SETTLE = timedelta(seconds=3)


def decide(desired: Desired, observed: Observed, *, now: datetime) -> actions.Decision:
    for check in _POLICIES:
        stall = check(desired, observed)
        if stall is not None:
            return actions.Decision(stall=stall)
    obtain = _obtain_token(desired, observed)
    if obtain is not None:
        return actions.Decision(actions=(obtain,))
    # From here on custody holds the token this BrokerToken asks for (that is what "nothing to obtain" means).
    custody = observed.custody
    assert custody is not None and custody.token is not None
    step = _share(desired, observed, custody) or _project(desired, observed, custody.token)
    if step is not None:
        return actions.Decision(actions=(step,))
    rotating = _rotate(desired, observed, custody, custody.token, now=now)
    return rotating if rotating is not None else _roll(observed, custody, custody.token, now=now)


def _rotate(
    desired: Desired, observed: Observed, custody: Custody, token: SecretStr, *, now: datetime
) -> actions.Decision | None:
    """The next rotation step, when one is due or in progress; None when rotation has nothing to say."""
    record = observed.rotation
    if record is None:
        trigger = rotation.due(
            intent=desired.rotation,
            last_request=custody.last_rotate_request,
            issued_at=custody.issued_at,
            uid=desired.uid,
            now=now,
        )
        if trigger is None:
            return None
        if desired.source is not SourceKind.PROVISION or custody.integration_id is None:
            return actions.Decision(
                stall=actions.Stall(
                    ConditionReason.ROTATION_NEEDS_PROVISION,
                    "a rotation was requested, but a token from spec.source.existingSecretRef is never sent to "
                    "Snyk: put the new token in that Secret instead, or use spec.source.provision",
                )
            )
        request = desired.rotation.requested if trigger == RotationTrigger.ANNOTATION else None
        begin = actions.BeginRotation(strategy=desired.rotation.strategy, trigger=trigger, request=request)
        return actions.Decision(actions=(begin,))
    if custody.integration_id is None:
        # The token in custody came from a given Secret (spec.source changed while a rotation ran): the rotation
        # cannot go on, and its provisional token must not be dropped either.
        return actions.Decision(
            stall=actions.Stall(
                ConditionReason.ROTATION_NEEDS_PROVISION,
                "a rotation is in progress, but spec.source no longer provisions the token: set "
                "spec.source.provision again to let it finish, or delete Secret "
                f"{rotation_secret_name(desired.name)!r} to abandon it (its provisional token is then never used)",
            )
        )
    if record.phase == RotationPhase.ROLLING_OUT:
        rolling = _roll(observed, custody, token, now=now)
        if not rolling.converged:
            return rolling
    return rotation.step(
        record=record,
        org_id=desired.org_id,
        integration_id=custody.integration_id,
        current_token=token,
        consumers=observed.consumers,
        bridges=observed.bridges,
    )


def _roll(observed: Observed, custody: Custody, token: SecretStr, *, now: datetime) -> actions.Decision:
    """Roll every consumer not yet on the current token, once the token has been stable for ROLL_SETTLE."""
    current = fingerprint_of(token)
    behind = [w for w in observed.consumers if w.fingerprint != current]
    if not behind:
        return actions.Decision()
    changed_at = custody.issued_at
    if changed_at is not None and now - changed_at < ROLL_SETTLE:
        return actions.Decision(wait_seconds=(changed_at + ROLL_SETTLE - now).total_seconds())
    return actions.Decision(
        actions=tuple(actions.RollConsumer(kind=w.kind, name=w.name, fingerprint=current) for w in behind)
    )


def _check_consumer_secret_is_ours(desired: Desired, observed: Observed) -> actions.Stall | None:
    if desired.existing_secret is not None and desired.existing_secret.name == desired.secret_name:
        return actions.Stall(
            ConditionReason.SECRET_CONFLICT,
            f"spec.secret.name {desired.secret_name!r} is also spec.source.existingSecretRef.name; the operator "
            "writes the consumer Secret, so give it a different name",
        )
    consumer = observed.consumer
    if consumer.exists and not is_ours(desired, consumer):
        owner = consumer.labels.get(BROKER_TOKEN_LABEL)
        held_by = f"BrokerToken {owner!r}" if owner and consumer.controller_uid else "something else"
        return actions.Stall(
            ConditionReason.SECRET_CONFLICT,
            f"Secret {desired.secret_name!r} already exists and is managed by {held_by}; the operator never "
            "overwrites a Secret it does not own: choose another spec.secret.name or delete that Secret",
        )
    return None


def is_ours(desired: Desired, secret: SecretState) -> bool:
    """Owned by this BrokerToken, or orphaned by an earlier BrokerToken of the same name (deletionPolicy Retain,
    then re-created, as GitOps tools do): such a Secret is adopted rather than reported as a conflict."""
    if secret.controller_uid is not None:
        return secret.controller_uid == desired.uid
    return secret.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and secret.labels.get(
        BROKER_TOKEN_LABEL
    ) == label_value(desired.name)


def _check_source_secret(desired: Desired, observed: Observed) -> actions.Stall | None:
    if desired.source is not SourceKind.EXISTING_SECRET or desired.existing_secret is None:
        return None
    ref = desired.existing_secret
    source = observed.source
    if source is None or not source.exists:
        return actions.Stall(
            ConditionReason.SOURCE_SECRET_NOT_FOUND,
            f"spec.source.existingSecretRef: Secret {ref.name!r} not found in namespace {desired.namespace!r}",
        )
    if source.token is None:
        return actions.Stall(
            ConditionReason.SOURCE_KEY_NOT_FOUND,
            f"spec.source.existingSecretRef: Secret {ref.name!r} has no key {ref.key!r}",
        )
    if not is_uuid4(source.token.get_secret_value()):
        return actions.Stall(
            ConditionReason.INVALID_TOKEN,
            f"spec.source.existingSecretRef: the value under key {ref.key!r} of Secret {ref.name!r} is not a "
            "broker token (a UUIDv4 such as 4a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a)",
        )
    return None


def _check_integration_found(desired: Desired, observed: Observed) -> actions.Stall | None:
    if observed.integration_missing:
        return actions.Stall(
            ConditionReason.INTEGRATION_NOT_FOUND,
            f"spec.integration.id {desired.integration_id} is not an integration of org {desired.org_id}",
        )
    return None


def _check_share_needs_provision(desired: Desired, observed: Observed) -> actions.Stall | None:
    if desired.share_with and desired.source is not SourceKind.PROVISION:
        return actions.Stall(
            ConditionReason.SHARE_NEEDS_PROVISION,
            "spec.shareWith clones the integration through the Snyk API, which a token from "
            "spec.source.existingSecretRef never reaches; use spec.source.provision, or share the token by hand",
        )
    return None


# Checks that stop a pass before any step, in this order: each names what the user must change.
_POLICIES = (
    _check_consumer_secret_is_ours,
    _check_source_secret,
    _check_integration_found,
    _check_share_needs_provision,
)


def _custody_matches(desired: Desired, observed: Observed) -> bool:
    custody = observed.custody
    return custody is not None and custody.token is not None and custody.origin == origin_of(desired)


def _obtain_token(desired: Desired, observed: Observed) -> actions.Action | None:
    if desired.source is SourceKind.EXISTING_SECRET:
        source_token = observed.source.token if observed.source else None
        custody = observed.custody
        in_custody = custody.token if custody else None
        if _custody_matches(desired, observed) and same_secret(source_token, in_custody):
            return None
        return actions.AdoptExistingToken(origin=origin_of(desired))
    if _custody_matches(desired, observed):
        return None
    resolved = observed.resolved
    if resolved is None:
        return actions.ResolveIntegration(
            org_id=desired.org_id,
            integration_id=desired.integration_id,
            integration_type=desired.integration_type,
        )
    return actions.EnableBroker(
        org_id=desired.org_id,
        integration_id=resolved.id,
        integration_type=resolved.type,
        origin=origin_of(desired),
    )


def _share(desired: Desired, observed: Observed, custody: Custody) -> actions.Action | None:
    if custody.integration_id is None or custody.integration_type is None:
        return None
    for org_id in desired.share_with:
        if org_id in custody.clones or org_id in custody.conflicts:
            continue
        if org_id not in observed.share_targets:
            return actions.InspectShareTarget(org_id=org_id, integration_type=custody.integration_type)
        existing = observed.share_targets[org_id]
        if existing is not None:
            # After a clone whose answer was lost (even across a restart), the integration found there is the clone.
            return actions.RecordShare(
                destination_org_id=org_id, integration_id=existing, ours=org_id in custody.clones_started
            )
        return actions.CloneIntegration(
            org_id=desired.org_id, integration_id=custody.integration_id, destination_org_id=org_id
        )
    return None


def _project(desired: Desired, observed: Observed, token: SecretStr) -> actions.Action | None:
    consumer = observed.consumer
    if not consumer.exists:
        return actions.WriteConsumerSecret(create=True, repairs=())
    repairs = consumer_secret_repairs(desired, token, consumer)
    return actions.WriteConsumerSecret(create=False, repairs=repairs) if repairs else None
