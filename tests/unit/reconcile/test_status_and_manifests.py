"""The status is computed whole and keeps transition times; Secrets round-trip through their manifests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from snyk_broker_operator.models.enums import ConditionReason, DeletionPolicy, RotationStrategy
from snyk_broker_operator.reconcile import actions, manifests, schedule, status
from snyk_broker_operator.reconcile.desired import Desired, SourceKind, without_gitops_tracking
from snyk_broker_operator.reconcile.observed import Custody, Observed, SecretState
from snyk_broker_operator.reconcile.outcome import Failure, Outcome
from snyk_broker_operator.reconcile.rotation import RotationIntent

TOKEN = SecretStr("5a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a")
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
ORG = "11111111-1111-4111-8111-111111111111"
INTEGRATION = "44444444-4444-4444-8444-444444444444"
CLONE = "55555555-5555-4555-8555-555555555555"
TEAM = "22222222-2222-4222-8222-222222222222"

DESIRED = Desired(
    namespace="ns",
    name="github",
    uid="uid-1",
    generation=3,
    org_id=ORG,
    integration_id=None,
    integration_type="github",
    source=SourceKind.PROVISION,
    existing_secret=None,
    share_with=(TEAM,),
    secret_name="github-broker-token",
    secret_key="BROKER_TOKEN",
    secret_labels={"team": "platform"},
    secret_annotations={},
    deletion_policy=DeletionPolicy.RETAIN,
    rotation=RotationIntent(every=None, strategy=RotationStrategy.BRIDGE, requested=None),
)
CUSTODY = Custody(
    token=TOKEN,
    origin="org/x/integration/type:github",
    integration_id=INTEGRATION,
    integration_type="github",
    issued_at=datetime(2026, 11, 29, 11, tzinfo=UTC),
    revision=1,
    clones={TEAM: CLONE},
)
CONVERGED = Observed(custody=CUSTODY, consumer=SecretState.absent(), source=None)


def conditions_of(result: status.BrokerTokenStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in result.conditions or ()}


def test_a_converged_token_is_ready_with_its_fingerprint_integration_and_shares() -> None:
    result = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=None, now=NOW)
    assert conditions_of(result) == {
        "Ready": ("True", "Reconciled"),
        "Reconciling": ("False", "Reconciled"),
        "Stalled": ("False", "Reconciled"),
    }
    assert result.token_fingerprint is not None and result.token_fingerprint.startswith("sha256:")
    assert TOKEN.get_secret_value() not in result.model_dump_json()
    assert result.integration_id == INTEGRATION
    assert result.observed_generation == 3
    assert result.shared_with is not None and result.shared_with[0].integration_id == CLONE
    assert result.failed_attempts is None


def test_recomputing_an_unchanged_status_keeps_every_transition_time() -> None:
    first = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=None, now=NOW)
    later = NOW + timedelta(hours=1)
    again = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=first, now=later)
    assert again == first


def test_a_stall_flips_ready_and_stalled_and_counts_a_failure() -> None:
    ready = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=None, now=NOW)
    stall = actions.Stall(ConditionReason.SECRET_CONFLICT, "Secret 'x' is not ours")
    later = NOW + timedelta(minutes=5)
    stalled = status.compute_status(
        desired=DESIRED, observed=CONVERGED, outcome=Outcome(stall=stall), previous=ready, now=later
    )
    by_type = {c.type: c for c in stalled.conditions or ()}
    assert by_type["Stalled"].status == "True" and by_type["Stalled"].message == "Secret 'x' is not ours"
    assert by_type["Ready"].status == "False" and by_type["Ready"].last_transition_time == later
    assert by_type["Reconciling"].last_transition_time == NOW  # was False, still False
    assert stalled.failed_attempts == 1 and stalled.last_failure_time == later


def test_a_transient_failure_is_reconciling_not_stalled_and_backs_off() -> None:
    failure = Failure(ConditionReason.SNYK_UNAVAILABLE, "Snyk answered 503")
    result = status.compute_status(
        desired=DESIRED, observed=CONVERGED, outcome=Outcome(failure=failure), previous=None, now=NOW
    )
    assert conditions_of(result)["Reconciling"] == ("True", "SnykUnavailable")
    assert conditions_of(result)["Stalled"] == ("False", "SnykUnavailable")
    assert [schedule.backoff_seconds(n) for n in (1, 2, 3, 10)] == [5.0, 10.0, 20.0, 300.0]


def test_custody_round_trips_through_its_secret_without_the_token_in_metadata() -> None:
    body = manifests.custody_secret(DESIRED, CUSTODY)
    assert TOKEN.get_secret_value() not in repr(body["metadata"])
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    parsed = manifests.parse_custody(body)
    assert parsed is not None
    assert parsed.token is not None and parsed.token.get_secret_value() == TOKEN.get_secret_value()
    assert dataclasses.replace(parsed, token=None) == dataclasses.replace(CUSTODY, token=None)


def test_the_consumer_secret_is_a_projection_with_our_labels_and_owner() -> None:
    body = manifests.consumer_secret(DESIRED, TOKEN)
    state = manifests.secret_state(body, key="BROKER_TOKEN")
    assert state.token is not None and state.token.get_secret_value() == TOKEN.get_secret_value()
    assert state.controller_uid == "uid-1"
    assert state.labels["team"] == "platform"
    assert state.labels["app.kubernetes.io/managed-by"] == "snyk-broker-operator"
    assert state.annotations["snykbroker.dev/token-fingerprint"].startswith("sha256:")


def test_gitops_tracking_labels_and_annotations_are_never_copied() -> None:
    given = {
        "app.kubernetes.io/instance": "argo-app",
        "argocd.argoproj.io/tracking-id": "x",
        "kustomize.toolkit.fluxcd.io/name": "y",
        "team": "platform",
    }
    assert without_gitops_tracking(given) == {"team": "platform"}
