"""Builders of the reconcile layer's values for the unit tests: Desired, Custody, Workload, rotation records, and the
API's JSON form of a consumer Deployment; each takes keyword changes over a plain, converged default."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from snyk_broker_operator.models import TOKEN_FINGERPRINT_ANNOTATION
from snyk_broker_operator.models.enums import DeletionPolicy, RotationPhase, RotationStrategy, RotationTrigger
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.desired import Desired, SecretKeyRef, SourceKind
from snyk_broker_operator.reconcile.observed import Custody
from snyk_broker_operator.reconcile.plan import origin_of
from snyk_broker_operator.reconcile.rotation import RotationIntent, RotationRecord

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
ORG = "11111111-1111-4111-8111-111111111111"
OTHER_ORG = "22222222-2222-4222-8222-222222222222"
THIRD_ORG = "33333333-3333-4333-8333-333333333333"
INTEGRATION = "44444444-4444-4444-8444-444444444444"
CLONE = "55555555-5555-4555-8555-555555555555"
UID = "uid-1"
# Broker tokens are UUIDv4s; tests look for these strings wherever a token must never appear.
TOKEN = SecretStr("5a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a")
NEW_TOKEN = SecretStr("6b4a0d3f-9c2e-4f70-8b8d-3e6f9a2c4d5b")
TOKEN_VALUES = (TOKEN.get_secret_value(), NEW_TOKEN.get_secret_value())
SECRET_NAME = "github-broker-token"
SECRET_KEY = "BROKER_TOKEN"
EXISTING = SecretKeyRef(name="given", key="token")
NO_ROTATION = RotationIntent(every=None, strategy=RotationStrategy.BRIDGE, requested=None)


def desired(**changes: Any) -> Desired:
    """A provisioned BrokerToken 'github' in namespace 'ns' for the github integration of ORG."""
    base = Desired(
        namespace="ns",
        name="github",
        uid=UID,
        generation=1,
        org_id=ORG,
        integration_id=None,
        integration_type="github",
        source=SourceKind.PROVISION,
        existing_secret=None,
        share_with=(),
        secret_name=SECRET_NAME,
        secret_key=SECRET_KEY,
        secret_labels={},
        secret_annotations={},
        deletion_policy=DeletionPolicy.RETAIN,
        rotation=NO_ROTATION,
    )
    return dataclasses.replace(base, **changes)


def existing(**changes: Any) -> Desired:
    """A BrokerToken that takes its token from Secret 'given', key 'token'."""
    return desired(source=SourceKind.EXISTING_SECRET, existing_secret=EXISTING, **changes)


def custody(want: Desired | None = None, token: SecretStr | None = TOKEN, **changes: Any) -> Custody:
    """Custody of `token` at revision 1, from the origin `want` asks for, for INTEGRATION."""
    base = Custody(
        token=token,
        origin=origin_of(want or desired()),
        integration_id=INTEGRATION,
        integration_type="github",
        issued_at=datetime(2026, 11, 29, tzinfo=UTC),
        revision=1,
    )
    return dataclasses.replace(base, **changes)


def workload(name: str = "broker", fingerprint: str | None = None, **changes: Any) -> Workload:
    """A settled two-replica HA-mode Deployment whose pod template carries `fingerprint`."""
    base = Workload(
        kind="Deployment",
        name=name,
        generation=2,
        observed_generation=2,
        replicas=2,
        updated_replicas=2,
        available_replicas=2,
        total_replicas=2,
        fingerprint=fingerprint,
        deadline_exceeded=None,
        ha_mode=True,
        client_urls=frozenset(),
    )
    return dataclasses.replace(base, **changes)


def record(
    phase: RotationPhase, strategy: RotationStrategy = RotationStrategy.BRIDGE, token: bool = True
) -> RotationRecord:
    """A rotation asked for by annotation, in `phase`, holding NEW_TOKEN unless `token` is False."""
    return RotationRecord(
        phase=phase,
        strategy=strategy,
        trigger=RotationTrigger.ANNOTATION,
        started_at=datetime(2026, 11, 29, 11, 59, tzinfo=UTC),
        request="now",
        token=NEW_TOKEN if token else None,
    )


def secret_env(secret: str, key: str = SECRET_KEY) -> dict[str, Any]:
    """A container env entry reading `key` of Secret `secret`."""
    return {"name": "BROKER_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def deployment(
    name: str = "broker",
    *,
    kind: str = "Deployment",
    labels: dict[str, str] | None = None,
    pod_labels: dict[str, str] | None = None,
    pod_spec: dict[str, Any] | None = None,
    fingerprint: str | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A workload as the API returns it; its pod template reads SECRET_NAME unless `pod_spec` says otherwise."""
    template_meta: dict[str, Any] = {"labels": pod_labels if pod_labels is not None else {"app": name}}
    if fingerprint is not None:
        template_meta["annotations"] = {TOKEN_FINGERPRINT_ANNOTATION: fingerprint}
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns", "generation": 2, "labels": labels or {}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": template_meta,
                "spec": pod_spec
                if pod_spec is not None
                else {"containers": [{"name": "broker", "env": [secret_env(SECRET_NAME)]}]},
            },
            **spec,
        },
    }
    if status is not None:
        body["status"] = status
    return body
