"""`decide` picks the next step from intent and observations alone; a converged BrokerToken decides nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from snyk_broker_operator.models import BROKER_TOKEN_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from snyk_broker_operator.models.enums import ConditionReason, DeletionPolicy, RotationStrategy, RotationTrigger
from snyk_broker_operator.reconcile import actions
from snyk_broker_operator.reconcile.desired import Desired, SecretKeyRef, SourceKind
from snyk_broker_operator.reconcile.manifests import desired_secret_annotations, desired_secret_labels
from snyk_broker_operator.reconcile.observed import Custody, Integration, Observed, SecretState
from snyk_broker_operator.reconcile.plan import decide, is_uuid4, origin_of
from snyk_broker_operator.reconcile.rotation import RotationIntent

ORG = "11111111-1111-4111-8111-111111111111"
OTHER_ORG = "22222222-2222-4222-8222-222222222222"
THIRD_ORG = "33333333-3333-4333-8333-333333333333"
INTEGRATION = "44444444-4444-4444-8444-444444444444"
TOKEN = SecretStr("5a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a")
OTHER_TOKEN = SecretStr("6b4a0d3f-9c2e-4f70-8b8d-3e6f9a2c4d5b")
UID = "uid-1"
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def desired(**changes: object) -> Desired:
    base = Desired(
        namespace="ns",
        name="github",
        uid=UID,
        generation=1,
        org_id=ORG,
        integration_id=None,
        integration_type="github",
        source=SourceKind.PROVISION,
        existing_secret=None,
        share_with=(),
        secret_name="github-broker-token",
        secret_key="BROKER_TOKEN",
        secret_labels={},
        secret_annotations={},
        deletion_policy=DeletionPolicy.RETAIN,
        rotation=RotationIntent(every=None, strategy=RotationStrategy.BRIDGE, requested=None),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def custody_for(want: Desired, token: SecretStr = TOKEN, **changes: object) -> Custody:
    base = Custody(
        token=token,
        origin=origin_of(want),
        integration_id=INTEGRATION,
        integration_type="github",
        issued_at=datetime(2026, 11, 29, tzinfo=UTC),
        revision=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def consumer_for(want: Desired, token: SecretStr = TOKEN, **changes: object) -> SecretState:
    base = SecretState(
        exists=True,
        token=token,
        controller_uid=want.uid,
        labels=desired_secret_labels(want),
        annotations=desired_secret_annotations(want, token),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def converged(want: Desired) -> Observed:
    return Observed(custody=custody_for(want), consumer=consumer_for(want), source=None)


def test_a_new_provisioned_broker_token_first_resolves_its_integration() -> None:
    decision = decide(desired(), Observed(custody=None, consumer=SecretState.absent(), source=None), now=NOW)
    assert decision.actions == (actions.ResolveIntegration(org_id=ORG, integration_id=None, integration_type="github"),)


def test_once_resolved_it_enables_broker_on_that_integration() -> None:
    want = desired()
    observed = Observed(
        custody=None, consumer=SecretState.absent(), source=None, resolved=Integration(INTEGRATION, "github")
    )
    (step,) = decide(want, observed, now=NOW).actions
    assert step == actions.EnableBroker(
        org_id=ORG, integration_id=INTEGRATION, integration_type="github", origin=origin_of(want)
    )


def test_with_a_token_in_custody_it_writes_the_consumer_secret() -> None:
    want = desired()
    observed = Observed(custody=custody_for(want), consumer=SecretState.absent(), source=None)
    assert decide(want, observed, now=NOW).actions == (actions.WriteConsumerSecret(create=True, repairs=()),)


def test_a_converged_broker_token_decides_nothing() -> None:
    want = desired()
    decision = decide(want, converged(want), now=NOW)
    assert decision.converged


@pytest.mark.parametrize(
    ("change", "repairs"),
    [
        ({"token": OTHER_TOKEN}, ("token",)),
        ({"labels": {}}, ("labels",)),
        ({"annotations": {}}, ("annotations",)),
        ({"controller_uid": None}, ("owner",)),
    ],
    ids=["an edited token", "stripped labels", "stripped annotations", "a lost owner reference"],
)
def test_drift_in_the_consumer_secret_is_repaired_from_custody(
    change: dict[str, object], repairs: tuple[str, ...]
) -> None:
    want = desired()
    consumer = dataclasses.replace(consumer_for(want), **change)  # type: ignore[arg-type]
    observed = Observed(custody=custody_for(want), consumer=consumer, source=None)
    assert decide(want, observed, now=NOW).actions == (actions.WriteConsumerSecret(create=False, repairs=repairs),)


def test_a_deleted_consumer_secret_is_recreated_without_a_snyk_call() -> None:
    want = desired()
    observed = Observed(custody=custody_for(want), consumer=SecretState.absent(), source=None)
    (step,) = decide(want, observed, now=NOW).actions
    assert isinstance(step, actions.WriteConsumerSecret)


def test_a_secret_owned_by_another_broker_token_is_a_conflict() -> None:
    want = desired()
    foreign = consumer_for(want, controller_uid="uid-2", labels={BROKER_TOKEN_LABEL: "other"})
    decision = decide(want, Observed(custody=None, consumer=foreign, source=None), now=NOW)
    assert decision.stall is not None
    assert decision.stall.reason == ConditionReason.SECRET_CONFLICT
    assert "BrokerToken 'other'" in decision.stall.message
    assert not decision.actions


def test_a_secret_nobody_manages_is_never_overwritten() -> None:
    want = desired()
    stranger = SecretState(exists=True, token=OTHER_TOKEN, controller_uid=None, labels={"team": "x"})
    decision = decide(want, Observed(custody=custody_for(want), consumer=stranger, source=None), now=NOW)
    assert decision.stall is not None
    assert "github-broker-token" in decision.stall.message
    assert "something else" in decision.stall.message


def test_a_secret_orphaned_by_an_earlier_broker_token_of_the_same_name_is_adopted() -> None:
    want = desired()
    orphan = SecretState(
        exists=True,
        token=TOKEN,
        controller_uid=None,
        labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, BROKER_TOKEN_LABEL: want.name},
    )
    decision = decide(want, Observed(custody=custody_for(want), consumer=orphan, source=None), now=NOW)
    assert decision.stall is None
    (step,) = decision.actions
    assert isinstance(step, actions.WriteConsumerSecret)
    assert "owner" in step.repairs


def test_a_changed_integration_obtains_a_new_token() -> None:
    before = desired()
    after = desired(integration_type="gitlab")
    observed = Observed(custody=custody_for(before), consumer=consumer_for(before), source=None)
    (step,) = decide(after, observed, now=NOW).actions
    assert isinstance(step, actions.ResolveIntegration)
    assert step.integration_type == "gitlab"


EXISTING = SecretKeyRef(name="given", key="token")


def existing(**changes: object) -> Desired:
    return desired(source=SourceKind.EXISTING_SECRET, existing_secret=EXISTING, **changes)


def test_an_existing_token_is_adopted_into_custody_with_no_snyk_call() -> None:
    want = existing()
    observed = Observed(custody=None, consumer=SecretState.absent(), source=SecretState(exists=True, token=TOKEN))
    assert decide(want, observed, now=NOW).actions == (actions.AdoptExistingToken(origin="secret/given/token"),)


def test_a_changed_existing_token_is_adopted_again() -> None:
    want = existing()
    observed = Observed(
        custody=custody_for(want),
        consumer=consumer_for(want),
        source=SecretState(exists=True, token=OTHER_TOKEN),
    )
    (step,) = decide(want, observed, now=NOW).actions
    assert isinstance(step, actions.AdoptExistingToken)


@pytest.mark.parametrize(
    ("source", "reason", "says"),
    [
        (None, ConditionReason.SOURCE_SECRET_NOT_FOUND, "Secret 'given' not found"),
        (SecretState(exists=True, token=None), ConditionReason.SOURCE_KEY_NOT_FOUND, "has no key 'token'"),
        (
            SecretState(exists=True, token=SecretStr("not-a-uuid")),
            ConditionReason.INVALID_TOKEN,
            "spec.source.existingSecretRef",
        ),
        (
            SecretState(exists=True, token=SecretStr("5a3f9c2e-8b1d-1e6f-9a7c-2d5e8f1b3c4a")),
            ConditionReason.INVALID_TOKEN,
            "UUIDv4",
        ),
    ],
    ids=["a missing Secret", "a missing key", "a value that is no UUID", "a UUID that is not version 4"],
)
def test_a_bad_existing_secret_stalls_with_a_message_naming_the_field(
    source: SecretState | None, reason: str, says: str
) -> None:
    decision = decide(existing(), Observed(custody=None, consumer=SecretState.absent(), source=source), now=NOW)
    assert decision.stall is not None
    assert decision.stall.reason == reason
    assert says in decision.stall.message
    assert "not-a-uuid" not in decision.stall.message


def test_the_consumer_secret_may_not_be_the_source_secret() -> None:
    want = existing(secret_name="given")
    decision = decide(want, Observed(custody=None, consumer=SecretState.absent(), source=None), now=NOW)
    assert decision.stall is not None
    assert decision.stall.reason == ConditionReason.SECRET_CONFLICT


def test_sharing_looks_up_each_org_then_clones_into_it() -> None:
    want = desired(share_with=(OTHER_ORG, THIRD_ORG))
    observed = converged(want)
    assert decide(want, observed, now=NOW).actions == (
        actions.InspectShareTarget(org_id=OTHER_ORG, integration_type="github"),
    )
    observed = dataclasses.replace(observed, share_targets={OTHER_ORG: None})
    assert decide(want, observed, now=NOW).actions == (
        actions.CloneIntegration(org_id=ORG, integration_id=INTEGRATION, destination_org_id=OTHER_ORG),
    )


def test_an_org_that_already_has_the_integration_is_recorded_not_overwritten() -> None:
    want = desired(share_with=(OTHER_ORG,))
    observed = dataclasses.replace(converged(want), share_targets={OTHER_ORG: "existing-id"})
    assert decide(want, observed, now=NOW).actions == (
        actions.RecordShare(destination_org_id=OTHER_ORG, integration_id="existing-id", ours=False),
    )


def test_after_a_clone_whose_answer_was_lost_the_integration_found_is_taken_as_the_clone() -> None:
    want = desired(share_with=(OTHER_ORG,))
    custody = custody_for(want, clones_started=frozenset({OTHER_ORG}))
    observed = Observed(custody=custody, consumer=consumer_for(want), source=None, share_targets={OTHER_ORG: "new-id"})
    assert decide(want, observed, now=NOW).actions == (
        actions.RecordShare(destination_org_id=OTHER_ORG, integration_id="new-id", ours=True),
    )


def test_recorded_shares_and_conflicts_cause_no_more_calls() -> None:
    want = desired(share_with=(OTHER_ORG, THIRD_ORG))
    custody = custody_for(want, clones={OTHER_ORG: "clone-id"}, conflicts={THIRD_ORG: "theirs"})
    assert decide(want, Observed(custody=custody, consumer=consumer_for(want), source=None), now=NOW).converged


def test_sharing_a_user_supplied_token_is_refused_with_a_reason() -> None:
    want = existing(share_with=(OTHER_ORG,))
    source = SecretState(exists=True, token=TOKEN)
    decision = decide(want, Observed(custody=None, consumer=SecretState.absent(), source=source), now=NOW)
    assert decision.stall is not None
    assert decision.stall.reason == ConditionReason.SHARE_NEEDS_PROVISION


def test_uuid4_check_accepts_only_canonical_version_4_uuids() -> None:
    assert is_uuid4(TOKEN.get_secret_value())
    assert not is_uuid4("5A3F9C2E8B1D4E6F9A7C2D5E8F1B3C4A")
    assert not is_uuid4("")


def test_a_new_rotate_request_begins_a_rotation_once_the_token_is_settled() -> None:
    want = desired(rotation=RotationIntent(every=None, strategy=RotationStrategy.BRIDGE, requested="r1"))
    (step,) = decide(want, converged(want), now=NOW).actions
    assert step == actions.BeginRotation(
        strategy=RotationStrategy.BRIDGE, trigger=RotationTrigger.ANNOTATION, request="r1"
    )
    handled = Observed(custody=custody_for(want, last_rotate_request="r1"), consumer=consumer_for(want), source=None)
    assert decide(want, handled, now=NOW).converged


def test_a_given_token_cannot_be_rotated_through_snyk() -> None:
    want = existing(rotation=RotationIntent(every=None, strategy=RotationStrategy.BRIDGE, requested="r1"))
    source = SecretState(exists=True, token=TOKEN)
    observed = Observed(custody=custody_for(want), consumer=consumer_for(want), source=source)
    decision = decide(want, observed, now=NOW)
    assert decision.stall is not None and decision.stall.reason == ConditionReason.ROTATION_NEEDS_PROVISION


def test_an_integration_id_the_org_does_not_have_stalls_naming_it() -> None:
    want = desired(integration_id=INTEGRATION, integration_type=None)
    observed = Observed(custody=None, consumer=SecretState.absent(), source=None, integration_missing=True)
    decision = decide(want, observed, now=NOW)
    assert decision.stall is not None and decision.stall.reason == ConditionReason.INTEGRATION_NOT_FOUND
    assert decision.stall.message == f"spec.integration.id {INTEGRATION} is not an integration of org {ORG}"
    assert not decision.actions


def test_a_converged_given_token_tied_to_no_integration_decides_nothing() -> None:
    want = existing()
    held = custody_for(want, integration_id=None, integration_type=None)
    source = SecretState(exists=True, token=TOKEN)
    assert decide(want, Observed(custody=held, consumer=consumer_for(want), source=source), now=NOW).converged
