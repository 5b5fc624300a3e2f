"""Secrets as the operator writes and reads them: pure builders (custody and consumer Secret bodies) and parsers.

The kube adapter moves these dicts over the wire and does nothing else with them. Tokens cross this module only
inside `data` (base64, as the API wants) and come back out as `SecretStr`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from snyk_broker_operator.reconcile.desired import (
    BROKER_TOKEN_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    ROLE_LABEL,
    Desired,
    custody_secret_name,
)
from snyk_broker_operator.reconcile.observed import Custody, SecretState
from snyk_broker_operator.reconcile.plan import desired_secret_annotations, desired_secret_labels

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
