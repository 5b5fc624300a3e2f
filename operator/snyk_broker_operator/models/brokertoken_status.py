"""The BrokerToken status: what the operator observed and did, computed whole each reconcile and written once.

kstatus-compatible: ``observedGeneration`` plus the conditions Ready, Reconciling and Stalled. A token never
appears here, only its fingerprint (``common.fingerprint_of``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from snyk_broker_operator.models.base import ObservedModel
from snyk_broker_operator.models.common import Condition, Fingerprint, Timestamp, Uuid
from snyk_broker_operator.models.enums import (
    ConditionReason,
    ConditionType,
    ConsumerKind,
    ConsumerReason,
    ConsumerState,
    RotationPhase,
    RotationStrategy,
    RotationTrigger,
    ShareState,
)

__all__ = [
    "BrokerTokenStatus",
    "ConsumerStatus",
    "RedundancyWarning",
    "RotationStatus",
    "SharedWithStatus",
]

MAX_CONDITIONS = 8
MAX_CONSUMERS = 64
MAX_SHARED_WITH = 50
CONSUMERS_READY_PATTERN = r"^[0-9]+/[0-9]+$"

ConsumersReady = Annotated[str, StringConstraints(pattern=CONSUMERS_READY_PATTERN)]


class RedundancyWarning(ObservedModel):
    """A setup of the token's consumers that Snyk does not serve as it is (too many HA clients, client URLs that
    differ). Kept while it lasts, whatever else the status says, so it is reported once when it appears."""

    reason: ConditionReason = Field(description="HAClientLimitExceeded or ClientURLMismatch.")
    message: str = Field(max_length=4096, description="What is wrong, and what to change.")


class SharedWithStatus(ObservedModel):
    """The integration cloned into one org of spec.shareWith."""

    org_id: Uuid = Field(description="Id of the org.")
    integration_id: Uuid | None = Field(default=None, description="Id of the cloned integration in that org.")
    state: ShareState = Field(
        description="Shared (the org uses this token), Conflict (the org already has an integration of this type "
        "on another token)."
    )
    message: str | None = Field(default=None, description="What went wrong, and what to do, when not Shared.")


class ConsumerStatus(ObservedModel):
    """One workload that consumes the token, and its rollout onto the current token."""

    kind: ConsumerKind = Field(description="Deployment or StatefulSet.")
    name: str = Field(max_length=253, description="Name of the workload in the BrokerToken's namespace.")
    fingerprint: Fingerprint | None = Field(
        default=None, description="Fingerprint of the token the workload's pod template was last rolled to."
    )
    desired_replicas: int | None = Field(default=None, ge=0, description="Replicas the workload asks for.")
    updated_replicas: int | None = Field(default=None, ge=0, description="Replicas running the current pod template.")
    available_replicas: int | None = Field(default=None, ge=0, description="Replicas available to serve.")
    state: ConsumerState = Field(
        description="Current (rolled and available), RollingOut, Failed (e.g. progress deadline exceeded) or "
        "Pending (not rolled yet)."
    )
    reason: ConsumerReason | None = Field(
        default=None, description="Why the state is not Current, as one CamelCase word."
    )
    message: str | None = Field(default=None, description="Details for a human.")


class RotationStatus(ObservedModel):
    """The rotation in progress, if any."""

    phase: RotationPhase = Field(
        description="Bridge: Provisioned, Bridging, Switched, RollingOut. InPlace: Provisioned, RollingOut, "
        "Switched. The whole rotation field is absent when no rotation runs."
    )
    strategy: RotationStrategy | None = Field(default=None, description="The strategy this rotation runs with.")
    started_at: Timestamp | None = Field(default=None, description="When this rotation started.")
    phase_since: Timestamp | None = Field(default=None, description="When this rotation entered its current phase.")
    provisional_fingerprint: Fingerprint | None = Field(
        default=None, description="Fingerprint of the provisional token this rotation moves to."
    )
    trigger: RotationTrigger | None = Field(
        default=None, description="Schedule (spec.rotation.every) or Annotation (snykbroker.dev/rotate-requested-at)."
    )


class BrokerTokenStatus(ObservedModel):
    """The observed state of a Snyk Broker token. Never contains the token itself."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this status was computed from."
    )
    conditions: tuple[Condition, ...] | None = Field(
        default=None,
        max_length=MAX_CONDITIONS,
        description="Ready, Reconciling and Stalled, present from the first reconcile.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    integration_id: Uuid | None = Field(
        default=None, description="Id of the integration, resolved from spec.integration."
    )
    token_fingerprint: Fingerprint | None = Field(
        default=None, description="Fingerprint (sha256: and 12 hex digits) of the token in the Secret."
    )
    revision: int | None = Field(
        default=None, ge=0, description="Number of tokens this BrokerToken has had; grows by one per rotation."
    )
    issued_at: Timestamp | None = Field(default=None, description="When the current token was obtained.")
    next_rotation_at: Timestamp | None = Field(default=None, description="When the next scheduled rotation starts.")
    shared_with: tuple[SharedWithStatus, ...] | None = Field(
        default=None,
        max_length=MAX_SHARED_WITH,
        description="One entry per org of spec.shareWith.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["orgId"]},
    )
    consumers: tuple[ConsumerStatus, ...] | None = Field(
        default=None,
        max_length=MAX_CONSUMERS,
        description="The workloads that consume the token, and their rollout state.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["kind", "name"]},
    )
    warnings: tuple[RedundancyWarning, ...] | None = Field(
        default=None,
        max_length=4,
        description="Setups of the consumers that Snyk does not serve as they are; absent when there is none.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["reason"]},
    )
    consumers_ready: ConsumersReady | None = Field(
        default=None, description="Consumers on the current token and available, out of all, e.g. 2/2."
    )
    rotation: RotationStatus | None = Field(default=None, description="The rotation in progress, if any.")
    last_rotate_request: str | None = Field(
        default=None,
        description="The last value of the annotation snykbroker.dev/rotate-requested-at that was handled.",
    )
    failed_attempts: int | None = Field(
        default=None, ge=0, description="Consecutive failed attempts since the last success."
    )
    last_failure_time: Timestamp | None = Field(default=None, description="When the last attempt failed.")

    def condition(self, condition_type: ConditionType) -> Condition | None:
        """The condition of this type, if present."""
        return next((c for c in self.conditions or () if c.type == condition_type), None)
