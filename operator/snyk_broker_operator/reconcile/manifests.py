"""The objects the operator writes, as pure builders, and the Secrets it reads, as parsers: custody, consumer and
rotation Secrets, and rotation bridge Deployments.

The kube adapter moves these dicts over the wire and does nothing else with them. Tokens cross this module only
inside `data` (base64, as the API wants) and come back out as `SecretStr`; timestamps come back out as `datetime`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from snyk_broker_operator.models import (
    API_VERSION,
    BRIDGE_OF_LABEL,
    BROKER_TOKEN_KIND,
    BROKER_TOKEN_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    ROLE_LABEL,
    TOKEN_FINGERPRINT_ANNOTATION,
    CustodyAnnotation,
    RotationAnnotation,
    fingerprint_of,
)
from snyk_broker_operator.models.enums import RotationPhase, RotationStrategy, RotationTrigger
from snyk_broker_operator.models.names import label_value
from snyk_broker_operator.reconcile import timestamps
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.desired import (
    Desired,
    bridge_name,
    custody_secret_name,
    rotation_secret_name,
)
from snyk_broker_operator.reconcile.observed import Custody, SecretState
from snyk_broker_operator.reconcile.rotation import RotationRecord

CUSTODY_TOKEN_KEY = "token"


def owner_reference(desired: Desired) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": BROKER_TOKEN_KIND,
        "name": desired.name,
        "uid": desired.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _encode(token: SecretStr) -> str:
    return base64.b64encode(token.get_secret_value().encode()).decode()


def custody_secret(desired: Desired, custody: Custody) -> dict[str, Any]:
    annotations = {
        CustodyAnnotation.ORIGIN: custody.origin or "",
        CustodyAnnotation.INTEGRATION_ID: custody.integration_id or "",
        CustodyAnnotation.INTEGRATION_TYPE: custody.integration_type or "",
        CustodyAnnotation.ISSUED_AT: timestamps.format_utc(custody.issued_at) if custody.issued_at else "",
        CustodyAnnotation.REVISION: str(custody.revision),
        CustodyAnnotation.SHARED_WITH: json.dumps(dict(sorted(custody.clones.items()))),
        CustodyAnnotation.SHARE_CONFLICTS: json.dumps(dict(sorted(custody.conflicts.items()))),
        CustodyAnnotation.CLONES_STARTED: json.dumps(sorted(custody.clones_started)),
        CustodyAnnotation.LAST_ROTATE_REQUEST: custody.last_rotate_request or "",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": custody_secret_name(desired.name),
            "namespace": desired.namespace,
            "labels": _labels(desired, "custody"),
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
        origin=annotations.get(CustodyAnnotation.ORIGIN) or None,
        integration_id=annotations.get(CustodyAnnotation.INTEGRATION_ID) or None,
        integration_type=annotations.get(CustodyAnnotation.INTEGRATION_TYPE) or None,
        issued_at=timestamps.parse(annotations.get(CustodyAnnotation.ISSUED_AT)),
        revision=_int(annotations.get(CustodyAnnotation.REVISION)),
        clones=_json_map(annotations.get(CustodyAnnotation.SHARED_WITH)),
        conflicts=_json_map(annotations.get(CustodyAnnotation.SHARE_CONFLICTS)),
        clones_started=_json_set(annotations.get(CustodyAnnotation.CLONES_STARTED)),
        last_rotate_request=annotations.get(CustodyAnnotation.LAST_ROTATE_REQUEST) or None,
    )


def desired_secret_labels(desired: Desired) -> dict[str, str]:
    """The consumer Secret's labels: the user's (GitOps tracking keys dropped) and the operator's own."""
    return {**desired.secret_labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE, BROKER_TOKEN_LABEL: label_value(desired.name)}


def desired_secret_annotations(desired: Desired, token: SecretStr) -> dict[str, str]:
    return {**desired.secret_annotations, TOKEN_FINGERPRINT_ANNOTATION: fingerprint_of(token)}


def consumer_secret_repairs(desired: Desired, custody_token: SecretStr, consumer: SecretState) -> tuple[str, ...]:
    """What differs between the consumer Secret and its projection from custody (empty: nothing)."""
    repairs: list[str] = []
    if consumer.controller_uid != desired.uid:
        repairs.append("owner")
    if not same_secret(consumer.token, custody_token):
        repairs.append("token")
    wanted_labels = desired_secret_labels(desired)
    if any(consumer.labels.get(key) != value for key, value in wanted_labels.items()):
        repairs.append("labels")
    wanted_annotations = desired_secret_annotations(desired, custody_token)
    if any(consumer.annotations.get(key) != value for key, value in wanted_annotations.items()):
        repairs.append("annotations")
    return tuple(repairs)


def same_secret(a: SecretStr | None, b: SecretStr | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.get_secret_value() == b.get_secret_value()


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
        controller_uid=controller.get("uid") if controller and controller.get("kind") == BROKER_TOKEN_KIND else None,
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


def _json_set(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    try:
        loaded = json.loads(value)
    except json.JSONDecodeError:
        return frozenset()
    return frozenset(str(item) for item in loaded) if isinstance(loaded, list) else frozenset()


def _labels(desired: Desired, role: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, BROKER_TOKEN_LABEL: label_value(desired.name), ROLE_LABEL: role}


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
                RotationAnnotation.PHASE: record.phase.value,
                RotationAnnotation.STRATEGY: record.strategy.value,
                RotationAnnotation.TRIGGER: record.trigger.value,
                RotationAnnotation.STARTED_AT: timestamps.format_utc(record.started_at) if record.started_at else "",
                RotationAnnotation.REQUEST: record.request or "",
                RotationAnnotation.PHASE_SINCE: timestamps.format_utc(record.phase_since) if record.phase_since else "",
                RotationAnnotation.PROVISION_STARTED_AT: (
                    timestamps.format_utc(record.provision_started_at) if record.provision_started_at else ""
                ),
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
        phase = RotationPhase(annotations.get(RotationAnnotation.PHASE, ""))
        strategy = RotationStrategy(annotations.get(RotationAnnotation.STRATEGY, ""))
        trigger = RotationTrigger(annotations.get(RotationAnnotation.TRIGGER, ""))
    except ValueError:
        return None  # not a record this operator wrote: ignore it rather than act on it
    token = _decoded(secret, key)
    return RotationRecord(
        phase=phase,
        strategy=strategy,
        trigger=trigger,
        started_at=timestamps.parse(annotations.get(RotationAnnotation.STARTED_AT)),
        request=annotations.get(RotationAnnotation.REQUEST) or None,
        token=token if token is not None and token.get_secret_value() else None,
        phase_since=timestamps.parse(annotations.get(RotationAnnotation.PHASE_SINCE)),
        provision_started_at=timestamps.parse(annotations.get(RotationAnnotation.PROVISION_STARTED_AT)),
    )


def bridge_deployment(desired: Desired, consumer: Workload, provisional_fingerprint: str) -> dict[str, Any]:
    """A one-replica copy of a consumer that reads the provisional token from the rotation Secret.

    Labels the consumer selects its pods by are left off, so its controller and Services keep to their own pods.
    """
    template = copy.deepcopy(dict((consumer.source.get("spec") or {}).get("template") or {}))
    selector = ((consumer.source.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    metadata = template.setdefault("metadata", {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in selector}
    bridge_labels = {**_labels(desired, "bridge"), BRIDGE_OF_LABEL: label_value(consumer.name)}
    metadata["labels"] = {**labels, **bridge_labels}
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        TOKEN_FINGERPRINT_ANNOTATION: provisional_fingerprint,
    }
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
