"""What a BrokerToken asks for, resolved with the defaults that live in code (none live in the CRD schema)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from snyk_broker_operator.models import BrokerToken, LabelSelector
from snyk_broker_operator.models.enums import ConnectionKind, DeletionPolicy
from snyk_broker_operator.models.names import DEPLOYMENT_NAME_MAX, derived_name
from snyk_broker_operator.reconcile.rotation import RotationIntent

# GitOps tools track what they own through these; copying them onto a Secret we create would make Argo CD or Flux
# adopt (and then prune) it, so they are dropped from spec.secret.labels/annotations.
GITOPS_TRACKING_KEYS = ("app.kubernetes.io/instance",)
GITOPS_TRACKING_PREFIXES = ("argocd.argoproj.io/", "kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")


class SourceKind(enum.StrEnum):
    PROVISION = "Provision"
    EXISTING_SECRET = "ExistingSecret"


@dataclasses.dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


@dataclasses.dataclass(frozen=True)
class Desired:
    """One BrokerToken's intent, with every default resolved. Built by `from_resource` at the start of a pass;
    consumed by `plan.decide`, `status.compute_status` and the executor."""

    namespace: str
    name: str
    uid: str
    generation: int
    org_id: str
    integration_id: str | None
    integration_type: str | None
    source: SourceKind
    existing_secret: SecretKeyRef | None
    share_with: tuple[str, ...]
    secret_name: str
    secret_key: str
    secret_labels: Mapping[str, str]
    secret_annotations: Mapping[str, str]
    deletion_policy: DeletionPolicy
    rotation: RotationIntent
    # Which connection's API key to use, and which workloads consume the Secret (None: those that read it).
    connection_kind: ConnectionKind = ConnectionKind.SNYK_CONNECTION
    connection_name: str = ""
    consumer_selector: LabelSelector | None = None


def without_gitops_tracking(items: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in items.items()
        if key not in GITOPS_TRACKING_KEYS and not key.startswith(GITOPS_TRACKING_PREFIXES)
    }


def custody_secret_name(broker_token_name: str) -> str:
    """The operator-only canonical copy of the token; the consumer Secret is a projection of it."""
    return derived_name(broker_token_name, "-snykbroker-custody")


def from_resource(resource: BrokerToken) -> Desired:
    spec = resource.spec
    meta = resource.metadata
    existing = spec.source.existing_secret_ref
    return Desired(
        namespace=meta.namespace or "",
        name=meta.name,
        uid=meta.uid or "",
        generation=meta.generation or 0,
        org_id=spec.org_id,
        integration_id=spec.integration.id,
        integration_type=spec.integration.type.value if spec.integration.type else None,
        source=SourceKind.EXISTING_SECRET if existing is not None else SourceKind.PROVISION,
        existing_secret=SecretKeyRef(existing.name, existing.effective_key) if existing is not None else None,
        share_with=spec.share_with_org_ids,
        secret_name=spec.effective_secret_name(meta.name),
        secret_key=spec.effective_secret_key,
        secret_labels=without_gitops_tracking(spec.effective_secret_labels),
        secret_annotations=without_gitops_tracking(spec.effective_secret_annotations),
        deletion_policy=spec.effective_deletion_policy,
        rotation=RotationIntent(
            every=spec.rotation_interval,
            strategy=spec.effective_rotation_strategy,
            requested=resource.rotate_requested_at,
        ),
        connection_kind=spec.connection_ref.effective_kind,
        connection_name=spec.connection_ref.name,
        consumer_selector=spec.consumer_selector,
    )


def rotation_secret_name(broker_token_name: str) -> str:
    """The operator-only record of a rotation in progress, holding the provisional token."""
    return derived_name(broker_token_name, "-snykbroker-rotation")


def bridge_name(consumer_name: str) -> str:
    """The Deployment that runs a copy of a consumer on the provisional token during a Bridge rotation."""
    return derived_name(consumer_name, "-snykbroker-bridge", limit=DEPLOYMENT_NAME_MAX)
