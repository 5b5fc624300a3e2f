"""What a BrokerToken asks for: `from_resource` resolves a parsed BrokerToken with the defaults that live in code,
drops GitOps tracking keys, and names the objects the operator derives from it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from snyk_broker_operator.models import ROTATE_REQUESTED_AT_ANNOTATION, BrokerToken, LabelSelector
from snyk_broker_operator.models.enums import ConnectionKind, DeletionPolicy, RotationStrategy
from snyk_broker_operator.reconcile.desired import (
    Desired,
    SecretKeyRef,
    SourceKind,
    bridge_name,
    custody_secret_name,
    from_resource,
    rotation_secret_name,
    without_gitops_tracking,
)
from snyk_broker_operator.reconcile.rotation import RotationIntent
from support.reconcile_builders import INTEGRATION, OTHER_ORG, THIRD_ORG, desired

METADATA = {"name": "github", "namespace": "ns", "uid": "uid-1", "generation": 1}
SPEC = {
    "connectionRef": {"name": "snyk"},
    "orgId": "11111111-1111-4111-8111-111111111111",
    "integration": {"type": "github"},
    "source": {"provision": {}},
}


def broker_token(metadata: dict[str, Any] | None = None, **spec: Any) -> BrokerToken:
    return BrokerToken.model_validate(
        {
            "apiVersion": "snykbroker.dev/v1alpha1",
            "kind": "BrokerToken",
            "metadata": METADATA if metadata is None else metadata,
            "spec": {**SPEC, **spec},
        }
    )


DEFAULTS = desired(secret_name="github", connection_name="snyk")


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (broker_token(), DEFAULTS),
        (
            broker_token({"name": "github"}),
            desired(namespace="", uid="", generation=0, secret_name="github", connection_name="snyk"),
        ),
        (
            broker_token(
                {**METADATA, "generation": 7, "annotations": {ROTATE_REQUESTED_AT_ANNOTATION: "2026-11-29T12:00:00Z"}},
                integration={"id": INTEGRATION},
                connectionRef={"kind": "ClusterSnykConnection", "name": "shared"},
                shareWith=[{"orgId": THIRD_ORG}, {"orgId": OTHER_ORG}],
                secret={
                    "name": "broker-token",
                    "key": "TOKEN",
                    "labels": {"team": "platform", "app.kubernetes.io/instance": "argo-app"},
                    "annotations": {"argocd.argoproj.io/sync-wave": "1", "owner": "platform"},
                },
                consumers={"selector": {"matchLabels": {"app": "broker"}}},
                rotation={"every": "2160h", "strategy": "InPlace"},
                deletionPolicy="Delete",
            ),
            desired(
                generation=7,
                integration_id=INTEGRATION,
                integration_type=None,
                share_with=(THIRD_ORG, OTHER_ORG),
                secret_name="broker-token",
                secret_key="TOKEN",
                secret_labels={"team": "platform"},
                secret_annotations={"owner": "platform"},
                deletion_policy=DeletionPolicy.DELETE,
                rotation=RotationIntent(timedelta(hours=2160), RotationStrategy.IN_PLACE, "2026-11-29T12:00:00Z"),
                connection_kind=ConnectionKind.CLUSTER_SNYK_CONNECTION,
                connection_name="shared",
                consumer_selector=LabelSelector(match_labels={"app": "broker"}),
            ),
        ),
        (
            broker_token(source={"existingSecretRef": {"name": "given"}}),
            desired(
                source=SourceKind.EXISTING_SECRET,
                existing_secret=SecretKeyRef("given", "BROKER_TOKEN"),
                secret_name="github",
                connection_name="snyk",
            ),
        ),
        (
            broker_token(source={"existingSecretRef": {"name": "given", "key": "token"}}, rotation={"every": "10s"}),
            desired(
                source=SourceKind.EXISTING_SECRET,
                existing_secret=SecretKeyRef("given", "token"),
                secret_name="github",
                connection_name="snyk",
                rotation=RotationIntent(timedelta(seconds=10), RotationStrategy.BRIDGE, None),
            ),
        ),
    ],
    ids=[
        "a minimal BrokerToken provisions into a Secret named after it, key BROKER_TOKEN, retained, Bridge on request",
        "metadata without namespace, uid or generation resolves to empty values and generation 0",
        "every field set is taken as given, GitOps tracking keys dropped and the rotate request read",
        "a given token Secret without a key is read under BROKER_TOKEN",
        "a given token Secret's key and a schedule without a strategy rotate with Bridge",
    ],
)
def test_from_resource(resource: BrokerToken, expected: Desired) -> None:
    assert from_resource(resource) == expected


def test_gitops_tracking_labels_and_annotations_are_never_copied() -> None:
    given = {
        "app.kubernetes.io/instance": "argo-app",
        "argocd.argoproj.io/tracking-id": "x",
        "kustomize.toolkit.fluxcd.io/name": "y",
        "team": "platform",
    }
    assert without_gitops_tracking(given) == {"team": "platform"}


def test_helm_release_tracking_is_dropped_but_similar_keys_are_kept() -> None:
    given = {"helm.toolkit.fluxcd.io/name": "r", "app.kubernetes.io/name": "broker", "argocd.argoproj.io": "kept"}
    assert without_gitops_tracking(given) == {"app.kubernetes.io/name": "broker", "argocd.argoproj.io": "kept"}


@pytest.mark.parametrize(
    ("name_of", "suffix", "limit"),
    [
        (custody_secret_name, "-snykbroker-custody", 253),
        (rotation_secret_name, "-snykbroker-rotation", 253),
        (bridge_name, "-snykbroker-bridge", 242),  # room for the ReplicaSets' "-<pod-template-hash>"
    ],
    ids=["the custody Secret", "the rotation Secret", "a bridge Deployment"],
)
def test_derived_names_keep_their_suffix_and_fit_even_for_the_longest_names(
    name_of: Callable[[str], str], suffix: str, limit: int
) -> None:
    assert name_of("github") == f"github{suffix}"
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters: the longest object name
    derived = name_of(longest)
    assert len(derived) <= limit and derived.endswith(suffix) and derived.startswith("a" * 63)
    assert name_of(longest[:-1] + "e") != derived, "two long names that differ only at the end must not collide"
