"""The v1 endpoint semantics over a :class:`.state.World`, free of HTTP.

Each function takes the caller's API key and the request's path parameters and body, checks them in the
order the simulator documents (401 key, 404 org, 403 access, 404 integration, 400 body, 409 conflict),
mutates the world, and returns the JSON response body (``None`` for an empty body). :mod:`.app` only parses
requests and calls these; every failure is a :class:`.errors.V1Error`.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any

from snyk_broker_operator.simulator import errors, integration_settings, seed, state
from snyk_broker_operator.simulator.names import TokenKind, TokenOrigin

JsonObject = dict[str, Any]


def user_me(world: state.World, *, key: str | None) -> JsonObject:
    record = world.authenticate(key)
    return {
        "id": record.user_id,
        "username": record.username,
        "email": record.email,
        "orgs": [
            {"id": org.id, "name": org.name, "group": _group_view(world, org.group_id)}
            for org in world.accessible_orgs(record)
        ],
    }


def list_orgs(world: state.World, *, key: str | None, site_url: str) -> JsonObject:
    """The orgs the key can use, as Snyk's ``GET /orgs`` lists them; ``url`` is ``site_url`` + ``/org/{slug}``.

    Snyk's example puts that URL on the API's own host (``https://api.snyk.io/org/my-other-org``), so the
    simulator puts it on the host the request reached. Every simulated org is in a group, so ``group`` is always
    an object here; Snyk sends null for a personal org, which the seed cannot describe.
    """
    record = world.authenticate(key)
    return {
        "orgs": [
            {
                "name": org.name,
                "id": org.id,
                "slug": org.slug,
                "url": f"{site_url.rstrip('/')}/org/{org.slug}",
                "group": {"name": world.groups[org.group_id].name, "id": org.group_id},
            }
            for org in world.accessible_orgs(record)
        ]
    }


def list_integrations(world: state.World, *, key: str | None, org_id: str) -> JsonObject:
    org = _accessible_org(world, key=key, org_id=org_id)
    return {integration.type: integration.id for integration in world.integrations_of_org(org.id)}


def get_integration_by_type(world: state.World, *, key: str | None, org_id: str, integration_type: str) -> JsonObject:
    org = _accessible_org(world, key=key, org_id=org_id)
    integration = world.integration_of_type(org.id, integration_type)
    if integration is None:
        raise errors.V1Error(HTTPStatus.NOT_FOUND, f"No {integration_type} integration found in org {org.id}")
    return {"id": integration.id}


def add_integration(world: state.World, *, key: str | None, org_id: str, body: Any) -> JsonObject:
    """Create an integration: brokered (answering its first broker token) or with credentials (answering its id).

    The two documented bodies are ``{"type", "broker": {"enabled": true}}`` and ``{"type", "credentials": {...}}``.
    ``broker.enabled: false`` is a non-brokered integration and so needs ``credentials``, as the update call does.
    """
    org = _accessible_org(world, key=key, org_id=org_id)
    fields = _object_body(body)
    integration_type = fields.get("type")
    if not isinstance(integration_type, str):
        raise _bad_request("Body must contain the integration 'type'")
    if integration_type not in seed.KNOWN_INTEGRATION_TYPES:
        raise _bad_request(f"Unknown integration type {integration_type!r}")
    brokered = _requested_broker_state(fields)
    if not brokered and not isinstance(fields.get("credentials"), dict):
        raise _bad_request("A non-brokered integration needs 'credentials'; to broker it send broker.enabled=true")
    existing = world.integration_of_type(org.id, integration_type)
    if existing is not None:
        raise errors.V1Error(
            HTTPStatus.CONFLICT, f"Org {org.id} already has a {integration_type} integration ({existing.id})"
        )
    integration = state.Integration(
        id=world.new_uuid(), type=integration_type, org_id=org.id, group_id=org.group_id, broker_enabled=False
    )
    world.integrations[integration.id] = integration
    if brokered:
        return _enable_broker(world, integration)
    # Credentials are accepted and not modelled further, as for the update call.
    return {"id": integration.id}


def _requested_broker_state(fields: dict[str, Any]) -> bool:
    broker = fields.get("broker")
    if broker is None:
        return False
    if not isinstance(broker, dict) or not isinstance(broker.get("enabled"), bool):
        raise _bad_request("'broker' must be an object with a boolean 'enabled'")
    enabled: bool = broker["enabled"]
    return enabled


def get_integration_settings(world: state.World, *, key: str | None, org_id: str, integration_id: str) -> JsonObject:
    org = _accessible_org(world, key=key, org_id=org_id)
    return copy.deepcopy(world.integration(org, integration_id).settings)


def update_integration_settings(
    world: state.World, *, key: str | None, org_id: str, integration_id: str, body: Any
) -> JsonObject:
    """Merge the given settings into the integration's (what is left out keeps its value) and return them all."""
    org = _accessible_org(world, key=key, org_id=org_id)
    integration = world.integration(org, integration_id)
    changes = integration_settings.parse_update(body)
    integration.settings = integration_settings.merge(integration.settings, changes)
    return copy.deepcopy(integration.settings)


def update_integration(
    world: state.World, *, key: str | None, org_id: str, integration_id: str, body: Any
) -> JsonObject:
    """Enable broker (idempotent: an existing token is returned unchanged), disable it, or update credentials."""
    org = _accessible_org(world, key=key, org_id=org_id)
    integration = world.integration(org, integration_id)
    fields = _object_body(body)
    body_type = fields.get("type")
    if not isinstance(body_type, str):
        raise _bad_request("Body must contain the integration 'type'")
    if body_type != integration.type:
        raise _bad_request(f"Body type {body_type!r} does not match integration type {integration.type!r}")
    broker = fields.get("broker")
    credentials = fields.get("credentials")
    if broker is None:
        if not isinstance(credentials, dict):
            raise _bad_request("Body must contain 'broker' or 'credentials'")
        # Credentials of a non-brokered integration are accepted and not modelled further.
        return {"id": integration.id}
    if not isinstance(broker, dict) or not isinstance(broker.get("enabled"), bool):
        raise _bad_request("'broker' must be an object with a boolean 'enabled'")
    if broker["enabled"]:
        return _enable_broker(world, integration)
    if not isinstance(credentials, dict):
        raise _bad_request("Disabling broker requires 'credentials'")
    integration.broker_enabled = False
    integration.token = None
    integration.provisional_token = None
    return {"id": integration.id}


def _enable_broker(world: state.World, integration: state.Integration) -> JsonObject:
    if integration.token is None:
        integration.broker_enabled = True
        integration.token = world.issue_token(TokenKind.BROKER, integration, origin=TokenOrigin.API)
    return {"id": integration.id, "brokerToken": integration.token}


def provision_token(world: state.World, *, key: str | None, org_id: str, integration_id: str) -> JsonObject:
    org = _accessible_org(world, key=key, org_id=org_id)
    integration = world.integration(org, integration_id)
    token = provision_provisional_token(world, integration, origin=TokenOrigin.API)
    return {"id": integration.id, "provisionalBrokerToken": token}


def provision_provisional_token(world: state.World, integration: state.Integration, *, origin: TokenOrigin) -> str:
    """Issue a provisional token; at most one may be outstanding in a whole group (Snyk's documented rule)."""
    if not integration.broker_enabled or integration.token is None:
        raise _bad_request(f"Integration {integration.id} is not brokered; enable broker before provisioning a token")
    for other in world.integrations_of_group(integration.group_id):
        if other.provisional_token is not None:
            raise errors.V1Error(
                HTTPStatus.CONFLICT,
                f"A provisional broker token is already outstanding in this group (integration {other.id}); "
                "switch to it before provisioning another",
            )
    integration.provisional_token = world.issue_token(TokenKind.PROVISIONAL, integration, origin=origin)
    return integration.provisional_token


def clear_provisional_token(integration: state.Integration) -> bool:
    """Forget the integration's outstanding provisional token (never used, never switched to); False if none."""
    had = integration.provisional_token is not None
    integration.provisional_token = None
    return had


def switch_token(world: state.World, *, key: str | None, org_id: str, integration_id: str) -> None:
    """Make the provisional token active here and on every integration in the group sharing the old token."""
    org = _accessible_org(world, key=key, org_id=org_id)
    integration = world.integration(org, integration_id)
    new_token = integration.provisional_token
    if new_token is None:
        raise _bad_request(f"Integration {integration.id} has no provisional broker token to switch to")
    old_token = integration.token
    for other in world.integrations_of_group(integration.group_id):
        if other is not integration and old_token is not None and other.token == old_token:
            other.token = new_token
    integration.token = new_token
    integration.provisional_token = None


def clone_integration(
    world: state.World, *, key: str | None, org_id: str, integration_id: str, body: Any
) -> JsonObject:
    """Copy type, broker state, active token and settings into another org of the same group."""
    record = world.authenticate(key)
    source_org = world.org(org_id)
    world.require_access(record, source_org)
    integration = world.integration(source_org, integration_id)
    destination_id = _object_body(body).get("destinationOrgPublicId")
    if not isinstance(destination_id, str) or not destination_id:
        raise _bad_request("Body must contain 'destinationOrgPublicId'")
    destination = world.orgs.get(destination_id)
    if destination is None:
        raise errors.V1Error(HTTPStatus.NOT_FOUND, f"Destination org {destination_id} not found")
    world.require_access(record, destination)
    if destination.group_id != source_org.group_id:
        raise _bad_request(f"Destination org {destination.id} is not in the same group as org {source_org.id}")
    existing = world.integration_of_type(destination.id, integration.type)
    if existing is not None:
        raise errors.V1Error(
            HTTPStatus.CONFLICT,
            f"Destination org {destination.id} already has a {integration.type} integration ({existing.id})",
        )
    clone = state.Integration(
        id=world.new_uuid(),
        type=integration.type,
        org_id=destination.id,
        group_id=destination.group_id,
        broker_enabled=integration.broker_enabled,
        token=integration.token,
        # Snyk documents that a clone carries the settings and credentials; credentials are not modelled, settings are.
        settings=copy.deepcopy(integration.settings),
    )
    world.integrations[clone.id] = clone
    return {"newIntegrationId": clone.id}


def _accessible_org(world: state.World, *, key: str | None, org_id: str) -> state.Org:
    record = world.authenticate(key)
    org = world.org(org_id)
    world.require_access(record, org)
    return org


def _group_view(world: state.World, group_id: str) -> JsonObject:
    return {"id": group_id, "name": world.groups[group_id].name}


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad_request("Request body must be a JSON object")
    return body


def _bad_request(message: str) -> errors.V1Error:
    return errors.V1Error(HTTPStatus.BAD_REQUEST, message)
