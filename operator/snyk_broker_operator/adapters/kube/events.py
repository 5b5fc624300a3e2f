"""Kubernetes Events the operator records on its objects (explicit, meaningful ones only, never one per reconcile),
and reads back for the kubectl plugin's `describe`."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from kubernetes import client

from snyk_broker_operator.adapters.kube.calls import call, call_json
from snyk_broker_operator.models import OPERATOR_NAME
from snyk_broker_operator.models.names import derived_name

REPORTING_COMPONENT = OPERATOR_NAME


class EventRecorder:
    """Records events as `instance` (the replica's leader-election identity), so that the events of an object show
    which replica wrote each one: with leader election, one writer at a time."""

    def __init__(self, api: client.ApiClient, *, instance: str = REPORTING_COMPONENT) -> None:
        self._core = client.CoreV1Api(api)
        # reportingInstance is limited to 128 characters by the API server.
        self._instance = instance[:128]

    async def record(self, *, involved: dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
        metadata = involved["metadata"]
        namespace = metadata.get("namespace") or "default"
        now = datetime.datetime.now(datetime.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                name=derived_name(metadata["name"], f".{secrets.token_hex(8)}"), namespace=namespace
            ),
            involved_object=client.V1ObjectReference(
                api_version=involved["apiVersion"],
                kind=involved["kind"],
                name=metadata["name"],
                namespace=metadata.get("namespace"),
                uid=metadata.get("uid"),
                resource_version=metadata.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            first_timestamp=now,
            last_timestamp=now,
            # Microseconds: events recorded in one pass (BridgeReady, then TokenSwitched) keep their order.
            event_time=now,
            count=1,
            source=client.V1EventSource(component=REPORTING_COMPONENT, host=self._instance),
            reporting_component=REPORTING_COMPONENT,
            reporting_instance=self._instance,
            action=reason,
        )
        await call_json(self._core.create_namespaced_event, namespace, event)


class EventReader:
    """The events recorded about one object, whoever recorded them."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)

    async def list_for(self, *, namespace: str, uid: str) -> list[dict[str, Any]]:
        """Events whose involvedObject is the object with this uid, as plain dicts (camelCase, API order)."""
        found = await call(self._core.list_namespaced_event, namespace, field_selector=f"involvedObject.uid={uid}")
        return [dict(self._api.sanitize_for_serialization(event)) for event in found.items or []]
