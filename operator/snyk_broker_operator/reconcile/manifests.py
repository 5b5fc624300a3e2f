"""Secrets as the operator writes and reads them: pure builders (custody and consumer Secret bodies) and parsers.

The kube adapter moves these dicts over the wire and does nothing else with them. Tokens cross this module only
inside `data` (base64, as the API wants) and come back out as `SecretStr`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from snyk_broker_operator.models.enums import RotationPhase, RotationStrategy, RotationTrigger
from snyk_broker_operator.reconcile.consumers import FINGERPRINT_ANNOTATION, Workload
from snyk_broker_operator.reconcile.desired import (
    BROKER_TOKEN_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    ROLE_LABEL,
    Desired,
    bridge_name,
    custody_secret_name,
    rotation_secret_name,
)
from snyk_broker_operator.reconcile.observed import Custody, SecretState
from snyk_broker_operator.reconcile.plan import desired_secret_annotations, desired_secret_labels
from snyk_broker_operator.reconcile.rotation import RotationRecord

API_VERSION = "snykbroker.dev/v1alpha1"
KIND = "BrokerToken"
CUSTODY_TOKEN_KEY = "token"
_PREFIX = "snykbroker.dev/"
ORIGIN = f"{_PREFIX}origin"
INTEGRATION_ID = f"{_PREFIX}integration-id"
INTEGRATION_TYPE = f"{_PREFIX}integration-type"
ISSUED_AT = f"{_PREFIX}issued-at"
REVISION = f"{_PREFIX}revision"
SHARED_WITH = f"{_PREFIX}shared-with"
SHARE_CONFLICTS = f"{_PREFIX}share-conflicts"
LAST_ROTATE_REQUEST = f"{_PREFIX}last-rotate-request"
PHASE = f"{_PREFIX}rotation-phase"
STRATEGY = f"{_PREFIX}rotation-strategy"
TRIGGER = f"{_PREFIX}rotation-trigger"
STARTED_AT = f"{_PREFIX}rotation-started-at"
REQUEST = f"{_PREFIX}rotation-request"
BRIDGE_OF_LABEL = f"{_PREFIX}bridge-of"


def owner_reference(desired: Desired) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": desired.name,
        "uid": desired.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _encode(token: SecretStr) -> str:
    return base64.b64encode(token.get_secret_value().encode()).decode()


def custody_secret(desired: Desired, custody: Custody) -> dict[str, Any]:
    annotations = {
        ORIGIN: custody.origin or "",
        INTEGRATION_ID: custody.integration_id or "",
        INTEGRATION_TYPE: custody.integration_type or "",
        ISSUED_AT: custody.issued_at or "",
        REVISION: str(custody.revision),
        SHARED_WITH: json.dumps(dict(sorted(custody.clones.items()))),
        SHARE_CONFLICTS: json.dumps(dict(sorted(custody.conflicts.items()))),
        LAST_ROTATE_REQUEST: custody.last_rotate_request or "",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": custody_secret_name(desired.name),
            "namespace": desired.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, BROKER_TOKEN_LABEL: desired.name, ROLE_LABEL: "custody"},
            "annotations": annotations,
            "ownerReferences": [owner_reference(desired)],
        },
        "data": {CUSTODY_TOKEN_KEY: _encode(custody.token)} if custody.token else {},
    }


def parse_custody(secret: Mapping[str, Any] | None) -> Custody | None:
    if secret is None:
        return None
    annotations: Mapping[str, str] = secret.get("metadata", {}).get("annotations") or {}
    return Custody(
        token=_decoded(secret, CUSTODY_TOKEN_KEY),
        origin=annotations.get(ORIGIN) or None,
        integration_id=annotations.get(INTEGRATION_ID) or None,
        integration_type=annotations.get(INTEGRATION_TYPE) or None,
        issued_at=annotations.get(ISSUED_AT) or None,
        revision=_int(annotations.get(REVISION)),
        clones=_json_map(annotations.get(SHARED_WITH)),
        conflicts=_json_map(annotations.get(SHARE_CONFLICTS)),
        last_rotate_request=annotations.get(LAST_ROTATE_REQUEST) or None,
    )


def consumer_secret(desired: Desired, token: SecretStr) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": desired.secret_name,
            "namespace": desired.namespace,
            "labels": desired_secret_labels(desired),
            "annotations": desired_secret_annotations(desired, token),
            "ownerReferences": [owner_reference(desired)],
        },
        "data": {desired.secret_key: _encode(token)},
    }


def secret_state(secret: Mapping[str, Any] | None, *, key: str) -> SecretState:
    if secret is None:
        return SecretState.absent()
    metadata = secret.get("metadata", {})
    controller = next((ref for ref in metadata.get("ownerReferences") or [] if ref.get("controller")), None)
    return SecretState(
        exists=True,
        token=_decoded(secret, key),
        controller_uid=controller.get("uid") if controller and controller.get("kind") == KIND else None,
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
    )


def _decoded(secret: Mapping[str, Any], key: str) -> SecretStr | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    try:
        return SecretStr(base64.b64decode(raw, validate=True).decode().strip())
    except (binascii.Error, UnicodeDecodeError):
        # Undecodable data is treated like any other value that is not a token: the UUID check reports it.
        return SecretStr("")


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def _json_map(value: str | None) -> dict[str, str]:
    if not value:
        return {}
    try:
        loaded = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _labels(desired: Desired, role: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, BROKER_TOKEN_LABEL: desired.name, ROLE_LABEL: role}


def rotation_secret(desired: Desired, record: RotationRecord) -> dict[str, Any]:
    """The rotation record; its data key is the consumer Secret's key, so bridges read it like the real one."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": rotation_secret_name(desired.name),
            "namespace": desired.namespace,
            "labels": _labels(desired, "rotation"),
            "annotations": {
                PHASE: record.phase.value,
                STRATEGY: record.strategy.value,
                TRIGGER: record.trigger.value,
                STARTED_AT: record.started_at,
                REQUEST: record.request or "",
            },
            "ownerReferences": [owner_reference(desired)],
        },
        "data": {desired.secret_key: _encode(record.token)} if record.token else {},
    }


def parse_rotation(secret: Mapping[str, Any] | None, *, key: str) -> RotationRecord | None:
    if secret is None:
        return None
    annotations: Mapping[str, str] = secret.get("metadata", {}).get("annotations") or {}
    try:
        phase = RotationPhase(annotations.get(PHASE, ""))
        strategy = RotationStrategy(annotations.get(STRATEGY, ""))
        trigger = RotationTrigger(annotations.get(TRIGGER, ""))
    except ValueError:
        return None  # not a record this operator wrote: ignore it rather than act on it
    token = _decoded(secret, key)
    return RotationRecord(
        phase=phase,
        strategy=strategy,
        trigger=trigger,
        started_at=annotations.get(STARTED_AT, ""),
        request=annotations.get(REQUEST) or None,
        token=token if token is not None and token.get_secret_value() else None,
    )


def bridge_deployment(desired: Desired, consumer: Workload, provisional_fingerprint: str) -> dict[str, Any]:
    """A one-replica copy of a consumer that reads the provisional token from the rotation Secret.

    Labels the consumer selects its pods by are left off, so its controller and Services keep to their own pods.
    """
    template = copy.deepcopy(dict((consumer.source.get("spec") or {}).get("template") or {}))
    selector = ((consumer.source.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    metadata = template.setdefault("metadata", {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in selector}
    bridge_labels = {**_labels(desired, "bridge"), BRIDGE_OF_LABEL: consumer.name}
    metadata["labels"] = {**labels, **bridge_labels}
    metadata["annotations"] = {**(metadata.get("annotations") or {}), FINGERPRINT_ANNOTATION: provisional_fingerprint}
    _point_at(template.get("spec") or {}, old=desired.secret_name, new=rotation_secret_name(desired.name))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": bridge_name(consumer.name),
            "namespace": desired.namespace,
            "labels": bridge_labels,
            "ownerReferences": [owner_reference(desired)],
        },
        "spec": {
            "replicas": 1,
            # A bridge that cannot start is reported quickly; the switch waits for it either way.
            "progressDeadlineSeconds": 20,
            "selector": {"matchLabels": bridge_labels},
            "template": template,
        },
    }


def _point_at(pod_spec: dict[str, Any], *, old: str, new: str) -> None:
    """Make every reference to Secret `old` in a pod spec name Secret `new` instead."""
    for container in [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]:
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ref.get("name") == old:
                ref["name"] = new
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref and ref.get("name") == old:
                ref["name"] = new
    for volume in pod_spec.get("volumes") or []:
        if (volume.get("secret") or {}).get("secretName") == old:
            volume["secret"]["secretName"] = new
        for projected in (volume.get("projected") or {}).get("sources") or []:
            if (projected.get("secret") or {}).get("name") == old:
                projected["secret"]["name"] = new
