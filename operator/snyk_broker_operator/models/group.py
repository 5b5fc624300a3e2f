"""The API's names, each spelled once: group, version, kinds, plurals, and every label and annotation the operator
sets or reads. Everything else imports them from here (a grep for the group finds only this module and prose)."""

from __future__ import annotations

from typing import Final

__all__ = [
    "API_VERSION",
    "BRIDGE_OF_LABEL",
    "BROKER_TOKEN_KIND",
    "BROKER_TOKEN_LABEL",
    "BROKER_TOKEN_PLURAL",
    "CLUSTER_SNYK_CONNECTION_KIND",
    "CLUSTER_SNYK_CONNECTION_PLURAL",
    "FINALIZER",
    "GROUP",
    "KOPF_LAST_HANDLED_ANNOTATIONS",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "OPERATOR_NAME",
    "ROLE_LABEL",
    "ROTATE_REQUESTED_AT_ANNOTATION",
    "SNYK_CONNECTION_KIND",
    "SNYK_CONNECTION_PLURAL",
    "TOKEN_FINGERPRINT_ANNOTATION",
    "VERSION",
    "CustodyAnnotation",
    "RotationAnnotation",
]

GROUP: Final = "snykbroker.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
# The operator's name: its field manager, event source, and the managed-by label's value.
OPERATOR_NAME: Final = "snyk-broker-operator"

BROKER_TOKEN_KIND: Final = "BrokerToken"
BROKER_TOKEN_PLURAL: Final = "brokertokens"
SNYK_CONNECTION_KIND: Final = "SnykConnection"
SNYK_CONNECTION_PLURAL: Final = "snykconnections"
CLUSTER_SNYK_CONNECTION_KIND: Final = "ClusterSnykConnection"
CLUSTER_SNYK_CONNECTION_PLURAL: Final = "clustersnykconnections"

# Kept on every BrokerToken and connection until the operator has released what it wrote for them.
FINALIZER: Final = f"{GROUP}/finalizer"
# Kopf's own bookkeeping annotations: never a reason to reconcile (the operator gives Kopf nothing to record).
KOPF_LAST_HANDLED_ANNOTATIONS: Final = frozenset(
    {f"{GROUP}/last-handled-configuration", "kopf.zalando.org/last-handled-configuration"}
)

# Set on a BrokerToken to any new value to request one rotation; the handled value is echoed in
# status.lastRotateRequest, so the same value never rotates twice.
ROTATE_REQUESTED_AT_ANNOTATION: Final = f"{GROUP}/rotate-requested-at"
# Set by the operator on each consumer's pod template (and on the consumer Secret); a new value rolls the workload
# onto the current token.
TOKEN_FINGERPRINT_ANNOTATION: Final = f"{GROUP}/token-fingerprint"

# On every object the operator writes: the app.kubernetes.io convention, and the name of the owning BrokerToken
# (the Secret watch selects on the latter, so unrelated Secrets never reach the operator).
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = OPERATOR_NAME
BROKER_TOKEN_LABEL: Final = f"{GROUP}/broker-token"
# What an operator-only object is for: "custody", "rotation" or "bridge".
ROLE_LABEL: Final = f"{GROUP}/role"
# On a rotation bridge Deployment: the name of the consumer it copies.
BRIDGE_OF_LABEL: Final = f"{GROUP}/bridge-of"


class CustodyAnnotation:
    """Annotations of the custody Secret: the operator's durable record of where its token came from."""

    ORIGIN: Final = f"{GROUP}/origin"
    INTEGRATION_ID: Final = f"{GROUP}/integration-id"
    INTEGRATION_TYPE: Final = f"{GROUP}/integration-type"
    ISSUED_AT: Final = f"{GROUP}/issued-at"
    REVISION: Final = f"{GROUP}/revision"
    SHARED_WITH: Final = f"{GROUP}/shared-with"
    SHARE_CONFLICTS: Final = f"{GROUP}/share-conflicts"
    # Orgs a clone call was sent for and not yet recorded: written before the call, so that a clone whose answer
    # was lost (a timeout, or the operator killed) is recognised as ours after a restart, not as a conflict.
    CLONES_STARTED: Final = f"{GROUP}/clones-started"
    LAST_ROTATE_REQUEST: Final = f"{GROUP}/last-rotate-request"


class RotationAnnotation:
    """Annotations of the rotation Secret: a rotation in progress, persisted step by step."""

    PHASE: Final = f"{GROUP}/rotation-phase"
    STRATEGY: Final = f"{GROUP}/rotation-strategy"
    TRIGGER: Final = f"{GROUP}/rotation-trigger"
    STARTED_AT: Final = f"{GROUP}/rotation-started-at"
    # When the rotation entered its current phase: a stuck phase is visible after a restart or a failover too.
    PHASE_SINCE: Final = f"{GROUP}/rotation-phase-since"
    REQUEST: Final = f"{GROUP}/rotation-request"
    # Set just before a provision-token call whose answer is not yet saved: if the operator stops during the call,
    # the next pass knows that a provisional token Snyk reports as outstanding is most likely its own.
    PROVISION_STARTED_AT: Final = f"{GROUP}/provision-started-at"
