"""The BrokerToken kind: its spec (what the user asks for), with the defaults that live in code, and the resource.

Its status lives in ``brokertoken_status``. Every CEL rule here is mirrored by a pydantic validator raising the
same message, so the operator and the API server refuse the same objects (``tests/unit/models`` checks both).
No field has a schema default: GitOps tools would see the API server's filled-in values as drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from snyk_broker_operator.models.base import ApiModel, ObservedModel
from snyk_broker_operator.models.brokertoken_status import BrokerTokenStatus
from snyk_broker_operator.models.common import (
    GO_DURATION_PATTERN,
    CelRule,
    GoDuration,
    KubeName,
    LabelSelector,
    ObjectMeta,
    SecretKey,
    Uuid,
    cel_validations,
    parse_go_duration,
)
from snyk_broker_operator.models.enums import ConnectionKind, DeletionPolicy, IntegrationType, RotationStrategy
from snyk_broker_operator.models.group import ROTATE_REQUESTED_AT_ANNOTATION

__all__ = [
    "DEFAULT_CONNECTION_KIND",
    "DEFAULT_DELETION_POLICY",
    "DEFAULT_ROTATION_STRATEGY",
    "DEFAULT_SECRET_KEY",
    "MAX_SHARE_WITH",
    "MIN_ROTATION_EVERY",
    "MIN_ROTATION_INTERVAL",
    "BrokerToken",
    "BrokerTokenSpec",
    "ConnectionRef",
    "ConsumerSelector",
    "ExistingSecretRef",
    "IntegrationRef",
    "ProvisionSource",
    "RotationSpec",
    "SecretTemplate",
    "ShareTarget",
    "TokenSource",
]

DEFAULT_CONNECTION_KIND: Final = ConnectionKind.SNYK_CONNECTION
DEFAULT_SECRET_KEY: Final = "BROKER_TOKEN"
DEFAULT_ROTATION_STRATEGY: Final = RotationStrategy.BRIDGE
# Retain: deleting a BrokerToken (or pruning it from Git by mistake) must never lose a working token.
DEFAULT_DELETION_POLICY: Final = DeletionPolicy.RETAIN
# Shorter intervals are refused: a rotation rolls every consumer, and a Bridge rotation takes about 15 s on a quiet
# cluster, so a shorter interval could not finish before the next one fell due. Anything under a day is for demos
# and tests; Snyk recommends 90 days (2160h).
MIN_ROTATION_EVERY: Final = "10s"
MIN_ROTATION_INTERVAL: Final = parse_go_duration(MIN_ROTATION_EVERY)
MAX_SHARE_WITH: Final = 50

INTEGRATION_EXACTLY_ONE = CelRule(
    rule="has(self.id) != has(self.type)",
    message="exactly one of spec.integration.id or spec.integration.type must be set",
)
SOURCE_EXACTLY_ONE = CelRule(
    rule="has(self.provision) != has(self.existingSecretRef)",
    message="exactly one of spec.source.provision or spec.source.existingSecretRef must be set",
)
SHARE_WITH_NOT_OWN_ORG = CelRule(
    rule="!has(self.shareWith) || self.shareWith.all(target, target.orgId != self.orgId)",
    message="spec.shareWith must not list spec.orgId: the token already belongs to its own org",
)
ORG_ID_IMMUTABLE = CelRule(
    rule="self == oldSelf",
    message="spec.orgId is immutable: create a new BrokerToken for another org",
)
ROTATION_MINIMUM = CelRule(
    # The guard leaves a malformed value to the schema's pattern error instead of a CEL evaluation error.
    rule=(
        f"!(size(self) >= 2 && self.matches('{GO_DURATION_PATTERN}'))"
        f" || duration(self) >= duration('{MIN_ROTATION_EVERY}')"
    ),
    message=f"spec.rotation.every must be at least {MIN_ROTATION_EVERY} (Snyk recommends 2160h, 90 days)",
)


class ConnectionRef(ApiModel):
    """The SnykConnection or ClusterSnykConnection whose API credentials manage this token."""

    kind: ConnectionKind | None = Field(
        default=None,
        description="SnykConnection (in this namespace) or ClusterSnykConnection. Default: SnykConnection.",
    )
    name: KubeName = Field(description="Name of the connection.")

    @property
    def effective_kind(self) -> ConnectionKind:
        """The kind, defaulted."""
        return self.kind or DEFAULT_CONNECTION_KIND


class IntegrationRef(ApiModel):
    """The Snyk integration the token is for: exactly one of id or type."""

    model_config = ConfigDict(json_schema_extra=cel_validations(INTEGRATION_EXACTLY_ONE))

    id: Uuid | None = Field(default=None, description="Id of the integration in spec.orgId (a lowercase UUID).")
    type: IntegrationType | None = Field(
        default=None,
        description="Type of the integration in spec.orgId, e.g. github or gitlab; resolved to an id once and "
        "recorded in status.integrationId.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> IntegrationRef:
        if (self.id is None) == (self.type is None):
            raise ValueError(INTEGRATION_EXACTLY_ONE.message)
        return self


class ProvisionSource(ApiModel):
    """Enable brokering on the integration through the Snyk API and keep the token Snyk returns. Takes no fields."""


class ExistingSecretRef(ApiModel):
    """A Secret in this namespace holding a token the user already has (validated as a UUIDv4, never sent)."""

    name: KubeName = Field(description="Name of the Secret in the BrokerToken's namespace.")
    key: SecretKey | None = Field(default=None, description="Key of the token in the Secret. Default: BROKER_TOKEN.")

    @property
    def effective_key(self) -> str:
        """The key, defaulted."""
        return self.key or DEFAULT_SECRET_KEY


class TokenSource(ApiModel):
    """Where the token comes from: exactly one of provision or existingSecretRef."""

    model_config = ConfigDict(json_schema_extra=cel_validations(SOURCE_EXACTLY_ONE))

    provision: ProvisionSource | None = Field(
        default=None,
        description="Set to {} to enable brokering on the integration through the Snyk API and keep the token it "
        "returns.",
    )
    existing_secret_ref: ExistingSecretRef | None = Field(
        default=None,
        description="A Secret in this namespace holding a token the user was given; it is checked to be a UUIDv4 "
        "and never sent anywhere.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> TokenSource:
        if (self.provision is None) == (self.existing_secret_ref is None):
            raise ValueError(SOURCE_EXACTLY_ONE.message)
        return self


class ShareTarget(ApiModel):
    """An org the integration is cloned into, so it uses the same token."""

    org_id: Uuid = Field(description="Id of the org (a lowercase UUID) in the same Snyk Group.")


class SecretTemplate(ApiModel):
    """The Secret the operator writes the token into, and that the consumers read."""

    name: KubeName | None = Field(default=None, description="Name of the Secret. Default: the BrokerToken's name.")
    key: SecretKey | None = Field(default=None, description="Key of the token in the Secret. Default: BROKER_TOKEN.")
    labels: dict[str, str] | None = Field(default=None, description="Extra labels put on the Secret.")
    annotations: dict[str, str] | None = Field(default=None, description="Extra annotations put on the Secret.")


class ConsumerSelector(ApiModel):
    """Which workloads consume the token and are rolled when it changes."""

    selector: LabelSelector | None = Field(
        default=None,
        description="Label selector of the Deployments and StatefulSets that consume the token. When absent, "
        "every Deployment and StatefulSet in the namespace whose pod template references the Secret is a consumer.",
    )


class RotationSpec(ApiModel):
    """When and how the token is replaced by a new one."""

    every: GoDuration | None = Field(
        default=None,
        description="Rotate this long after the current token was issued, as a duration in hours, minutes and "
        f"seconds (e.g. 2160h for 90 days); at least {MIN_ROTATION_EVERY}. When absent, the token rotates only on "
        "request (annotation snykbroker.dev/rotate-requested-at).",
        json_schema_extra=cel_validations(ROTATION_MINIMUM),
    )
    strategy: RotationStrategy | None = Field(
        default=None,
        description="Bridge runs a copy of each consumer on the new token before switching (no gap); InPlace rolls "
        "the consumers and then switches (a short gap, no spare capacity). Default: Bridge.",
    )

    @field_validator("every")
    @classmethod
    def _every_at_least_minimum(cls, every: str | None) -> str | None:
        if every is not None and parse_go_duration(every) < MIN_ROTATION_INTERVAL:
            raise ValueError(ROTATION_MINIMUM.message)
        return every

    @property
    def interval(self) -> timedelta | None:
        """The rotation interval, or None when rotation is on request only."""
        return None if self.every is None else parse_go_duration(self.every)


class BrokerTokenSpec(ApiModel):
    """The desired state of a Snyk Broker token."""

    model_config = ConfigDict(json_schema_extra=cel_validations(SHARE_WITH_NOT_OWN_ORG))

    connection_ref: ConnectionRef = Field(description="The Snyk API credentials that manage the token.")
    org_id: Uuid = Field(
        description="Id of the Snyk org (a lowercase UUID) the integration belongs to. Immutable.",
        json_schema_extra=cel_validations(ORG_ID_IMMUTABLE),
    )
    integration: IntegrationRef = Field(description="The integration the token is for: exactly one of id or type.")
    source: TokenSource = Field(
        description="Where the token comes from: exactly one of provision or existingSecretRef."
    )
    share_with: tuple[ShareTarget, ...] | None = Field(
        default=None,
        max_length=MAX_SHARE_WITH,
        description="Orgs the integration is cloned into so they use the same token; each org at most once, and not "
        "spec.orgId.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["orgId"]},
    )
    secret: SecretTemplate | None = Field(
        default=None,
        description="The Secret holding the token. Default: named after the BrokerToken, key BROKER_TOKEN.",
    )
    consumers: ConsumerSelector | None = Field(
        default=None, description="The workloads rolled when the token changes. Default: discovered, see selector."
    )
    rotation: RotationSpec | None = Field(
        default=None, description="Scheduled rotation. Default: rotate only on request, with strategy Bridge."
    )
    deletion_policy: DeletionPolicy | None = Field(
        default=None,
        description="What happens to the Secret when the BrokerToken is deleted: Retain keeps it, Delete removes it. "
        "The token at Snyk is never revoked. Default: Retain.",
    )

    @model_validator(mode="after")
    def _share_targets_are_other_distinct_orgs(self) -> BrokerTokenSpec:
        org_ids = self.share_with_org_ids
        if self.org_id in org_ids:
            raise ValueError(SHARE_WITH_NOT_OWN_ORG.message)
        if len(set(org_ids)) != len(org_ids):
            raise ValueError("spec.shareWith must list each org at most once")
        return self

    def effective_secret_name(self, metadata_name: str) -> str:
        """The Secret's name: spec.secret.name, or else the BrokerToken's own name."""
        return (self.secret.name if self.secret else None) or metadata_name

    @property
    def effective_secret_key(self) -> str:
        """The key of the token in the Secret."""
        return (self.secret.key if self.secret else None) or DEFAULT_SECRET_KEY

    @property
    def effective_secret_labels(self) -> Mapping[str, str]:
        """The extra labels for the Secret (empty when none)."""
        return (self.secret.labels if self.secret else None) or {}

    @property
    def effective_secret_annotations(self) -> Mapping[str, str]:
        """The extra annotations for the Secret (empty when none)."""
        return (self.secret.annotations if self.secret else None) or {}

    @property
    def consumer_selector(self) -> LabelSelector | None:
        """The consumer selector, or None for discovery by Secret reference."""
        return self.consumers.selector if self.consumers else None

    @property
    def rotation_interval(self) -> timedelta | None:
        """The scheduled rotation interval, or None when rotation is on request only."""
        return self.rotation.interval if self.rotation else None

    @property
    def effective_rotation_strategy(self) -> RotationStrategy:
        """The rotation strategy, defaulted."""
        return (self.rotation.strategy if self.rotation else None) or DEFAULT_ROTATION_STRATEGY

    @property
    def effective_deletion_policy(self) -> DeletionPolicy:
        """The deletion policy, defaulted."""
        return self.deletion_policy or DEFAULT_DELETION_POLICY

    @property
    def share_with_org_ids(self) -> tuple[str, ...]:
        """The orgs to share with, in spec order."""
        return tuple(target.org_id for target in self.share_with or ())


class BrokerToken(ObservedModel):
    """A whole BrokerToken object as the API server returns it (only the metadata the operator reads)."""

    api_version: Literal["snykbroker.dev/v1alpha1"] = Field(description="The API version.")
    kind: Literal["BrokerToken"] = Field(description="The kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: BrokerTokenSpec = Field(description="The desired state.")
    status: BrokerTokenStatus | None = Field(default=None, description="The observed state.")

    @property
    def secret_name(self) -> str:
        """The name of the Secret holding the token."""
        return self.spec.effective_secret_name(self.metadata.name)

    @property
    def rotate_requested_at(self) -> str | None:
        """The value of the rotate-requested-at annotation, if set."""
        return self.metadata.annotations.get(ROTATE_REQUESTED_AT_ANNOTATION)
