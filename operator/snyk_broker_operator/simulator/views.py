"""The admin view of the world: the JSON that ``GET /_sim/state`` returns (tokens in clear: tests only).

Reads a :class:`.state.World`; used by :mod:`.admin`. Keys appear only as fingerprints.
"""

from __future__ import annotations

from typing import Any

from snyk_broker_operator.simulator import state


def snapshot(world: state.World) -> dict[str, Any]:
    """Integrations, every issued token, the call log and the keys, as JSON-ready data."""
    return {
        "integrations": [integration_view(integration) for integration in world.integrations.values()],
        "issuedTokens": [_issued_view(issued) for issued in world.issued],
        "calls": [call_view(call) for call in world.calls],
        "keys": [key_view(record) for record in world.key_records()],
    }


def integration_view(integration: state.Integration) -> dict[str, Any]:
    return {
        "groupId": integration.group_id,
        "orgId": integration.org_id,
        "id": integration.id,
        "type": integration.type,
        "brokerEnabled": integration.broker_enabled,
        "token": integration.token,
        "provisionalToken": integration.provisional_token,
    }


def _issued_view(issued: state.IssuedToken) -> dict[str, Any]:
    return {
        "token": issued.token,
        "kind": str(issued.kind),
        "integrationId": issued.integration_id,
        "orgId": issued.org_id,
        "issuedAt": issued.issued_at.isoformat(),
        "origin": str(issued.origin),
    }


def call_view(call: state.CallRecord) -> dict[str, Any]:
    return {
        "index": call.index,
        "method": call.method,
        "path": call.path,
        "endpoint": str(call.endpoint),
        "status": call.status,
        "keyFingerprint": call.key_fingerprint,
        "time": call.time.isoformat(),
        "fault": call.fault,
    }


def key_view(record: state.ApiKeyRecord) -> dict[str, Any]:
    view: dict[str, Any] = {"fingerprint": record.fingerprint, "revoked": record.revoked}
    if record.group_id is not None:
        view["group"] = record.group_id
    else:
        view["orgs"] = list(record.org_ids or ())
    return view
