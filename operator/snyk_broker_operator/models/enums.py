"""String enums of the API: every closed set of values a spec or status field takes, and the condition vocabulary.

Values are the wire spelling. Enums used in a spec field become an OpenAPI ``enum`` in the CRD (crdgen), so a
value outside the set is refused at ``kubectl apply``; the condition enums are code-only vocabulary, because a
condition's ``type`` and ``reason`` are free-form strings on the wire (metav1.Condition).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConditionReason",
    "ConditionStatus",
    "ConditionType",
    "ConnectionKind",
    "ConsumerKind",
    "ConsumerReason",
    "ConsumerState",
    "DeletionPolicy",
    "EventReason",
    "IntegrationType",
    "LabelSelectorOperator",
    "Region",
    "RotationPhase",
    "RotationStrategy",
    "RotationTrigger",
    "ShareState",
]


class Region(StrEnum):
    """A Snyk data-residency region; each one has its own API host."""

    SNYK_US_01 = "SNYK-US-01"
    SNYK_US_02 = "SNYK-US-02"
    SNYK_EU_01 = "SNYK-EU-01"
    SNYK_AU_01 = "SNYK-AU-01"

    @property
    def api_url(self) -> str:
        """The base URL of the region's API (the v1 API lives under ``/v1`` of it)."""
        return _REGION_API_URLS[self]


_REGION_API_URLS: dict[Region, str] = {
    Region.SNYK_US_01: "https://api.snyk.io",
    Region.SNYK_US_02: "https://api.us.snyk.io",
    Region.SNYK_EU_01: "https://api.eu.snyk.io",
    Region.SNYK_AU_01: "https://api.au.snyk.io",
}


class IntegrationType(StrEnum):
    """A Snyk v1 integration type that can be brokered (the names of ``GET /org/{orgId}/integrations/{type}``)."""

    ACR = "acr"
    APPRISK = "apprisk"
    ARTIFACTORY = "artifactory"
    ARTIFACTORY_CR = "artifactory-cr"
    AZURE_REPOS = "azure-repos"
    BITBUCKET_CLOUD = "bitbucket-cloud"
    BITBUCKET_SERVER = "bitbucket-server"
    DIGITALOCEAN_CR = "digitalocean-cr"
    DOCKER_HUB = "docker-hub"
    ECR = "ecr"
    GCR = "gcr"
    GITHUB = "github"
    GITHUB_CR = "github-cr"
    GITHUB_ENTERPRISE = "github-enterprise"
    GITHUB_SERVER_APP = "github-server-app"
    GITLAB = "gitlab"
    GITLAB_CR = "gitlab-cr"
    GOOGLE_ARTIFACT_CR = "google-artifact-cr"
    HARBOR_CR = "harbor-cr"
    JIRA = "jira"
    NEXUS = "nexus"
    NEXUS_CR = "nexus-cr"
    QUAY_CR = "quay-cr"


class ConnectionKind(StrEnum):
    """The kind of Snyk connection a BrokerToken refers to."""

    SNYK_CONNECTION = "SnykConnection"
    CLUSTER_SNYK_CONNECTION = "ClusterSnykConnection"


class RotationStrategy(StrEnum):
    """How a rotation moves consumers from the old token to the new one."""

    # A bridge copy of each consumer runs on the provisional token before the switch: no gap in service.
    BRIDGE = "Bridge"
    # Consumers are rolled onto the provisional token and then switched: a short gap, no spare capacity needed.
    IN_PLACE = "InPlace"


class DeletionPolicy(StrEnum):
    """What happens to the token Secret when its BrokerToken is deleted."""

    RETAIN = "Retain"
    DELETE = "Delete"


class ConditionType(StrEnum):
    """Condition types the operator sets (kstatus: ``Reconciling`` and ``Stalled`` are abnormal-true)."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class ConditionStatus(StrEnum):
    """The status of a condition, as in metav1.Condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionReason(StrEnum):
    """Reasons the operator gives on conditions: one CamelCase word that a machine can match on.

    Every reason a condition (or a stall, or a failure) can carry is a member; nothing else is ever written.
    """

    # Healthy, or on its way.
    RECONCILED = "Reconciled"
    PROGRESSING = "Progressing"
    ROTATING = "Rotating"
    ROLLING_OUT = "RollingOut"
    # Ready, but with a setup Snyk does not support (redundant clients of one token).
    HA_CLIENT_LIMIT_EXCEEDED = "HAClientLimitExceeded"
    CLIENT_URL_MISMATCH = "ClientURLMismatch"
    # The user must act (Stalled).
    CONNECTION_NOT_FOUND = "ConnectionNotFound"
    CONNECTION_NOT_READY = "ConnectionNotReady"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    INTEGRATION_NOT_FOUND = "IntegrationNotFound"
    SOURCE_SECRET_NOT_FOUND = "SourceSecretNotFound"
    SOURCE_KEY_NOT_FOUND = "SourceKeyNotFound"
    INVALID_TOKEN = "InvalidToken"
    SECRET_CONFLICT = "SecretConflict"
    SHARE_NEEDS_PROVISION = "ShareNeedsProvision"
    ROTATION_NEEDS_PROVISION = "RotationNeedsProvision"
    PROVISIONAL_TOKEN_OUTSTANDING = "ProvisionalTokenOutstanding"
    BRIDGE_UNAVAILABLE = "BridgeUnavailable"
    CONSUMER_ROLLOUT_FAILED = "ConsumerRolloutFailed"
    INVALID_SPEC = "InvalidSpec"
    # The API server refused a write the operator made; the same write would be refused again.
    WRITE_FORBIDDEN = "WriteForbidden"
    WRITE_INVALID = "WriteInvalid"
    WRITE_TOO_LARGE = "WriteTooLarge"
    WRITE_REFUSED = "WriteRefused"
    # Retried with backoff.
    RATE_LIMITED = "RateLimited"
    SNYK_UNAVAILABLE = "SnykUnavailable"
    AMBIGUOUS_RESULT = "AmbiguousResult"
    KUBERNETES_ERROR = "KubernetesError"


class EventReason(StrEnum):
    """Reasons of the Kubernetes Events the operator records: one per thing that happened, never one per pass.

    A stall is also recorded as an event, once, under its condition reason (:class:`ConditionReason`).
    """

    TOKEN_ISSUED = "TokenIssued"
    TOKEN_ADOPTED = "TokenAdopted"
    SHARED_WITH_ORG = "SharedWithOrg"
    SHARE_CONFLICT = "ShareConflict"
    SECRET_WRITTEN = "SecretWritten"
    SECRET_RESTORED = "SecretRestored"
    ROLLOUT_STARTED = "RolloutStarted"
    ROLLOUT_COMPLETED = "RolloutCompleted"
    ROLLOUT_FAILED = "RolloutFailed"
    ROTATION_STARTED = "RotationStarted"
    BRIDGE_READY = "BridgeReady"
    SWITCH_ASSUMED = "SwitchAssumed"
    TOKEN_SWITCHED = "TokenSwitched"
    ROTATION_COMPLETED = "RotationCompleted"
    ROTATION_FAILED = "RotationFailed"


class ConsumerReason(StrEnum):
    """Why one consumer workload is not (yet) on the current token (``status.consumers[].reason``)."""

    TOKEN_CHANGED = "TokenChanged"
    ROLLING_OUT = "RollingOut"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


class RotationPhase(StrEnum):
    """Where a rotation in progress stands (``status.rotation`` is absent when none runs).

    Bridge: Provisioned -> Bridging -> Switched -> RollingOut, then the bridges and the record are deleted.
    InPlace: Provisioned -> RollingOut -> Switched, then the record is deleted.
    """

    # A provisional token is being obtained, or was obtained and persisted in the operator's rotation Secret.
    PROVISIONED = "Provisioned"
    # Bridge copies of the consumers run on the provisional token; waiting for them to become available.
    BRIDGING = "Bridging"
    # Snyk switched the integration (and every integration sharing the token) to the provisional token.
    SWITCHED = "Switched"
    # The new token is in the consumer Secret and the consumers are rolling onto it.
    ROLLING_OUT = "RollingOut"


class RotationTrigger(StrEnum):
    """What started a rotation."""

    SCHEDULE = "Schedule"
    ANNOTATION = "Annotation"


class ShareState(StrEnum):
    """The state of the integration cloned into one ``shareWith`` org."""

    SHARED = "Shared"
    CONFLICT = "Conflict"


class ConsumerKind(StrEnum):
    """The kinds of workload that can consume a token Secret."""

    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"


class ConsumerState(StrEnum):
    """The rollout state of one consumer workload with respect to the current token."""

    CURRENT = "Current"
    ROLLING_OUT = "RollingOut"
    FAILED = "Failed"
    PENDING = "Pending"


class LabelSelectorOperator(StrEnum):
    """The operator of a label-selector requirement, as in metav1.LabelSelectorRequirement."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
