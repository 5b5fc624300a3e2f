"""The admin API under ``/_sim``: inspect the world, inject faults, manage keys, seed foreign tokens.

For tests and demos only: it needs no authentication and reports tokens in clear, which is why the simulator
binds to 127.0.0.1 unless told otherwise. Admin requests are not rate limited, not faulted, and not
appended to the call log (which records v1 traffic only). Errors use the same body shape as the v1 API.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pydantic
from aiohttp import web
from pydantic.alias_generators import to_camel

from snyk_broker_operator.simulator import errors, faults, operations, seed, state, views
from snyk_broker_operator.simulator.context import SIMULATION, error_response, json_response
from snyk_broker_operator.simulator.names import TokenOrigin

ADMIN_PREFIX = "/_sim"


class _KeyRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    key: str = pydantic.Field(min_length=1, repr=False)
    group: str | None = None
    orgs: list[str] | None = None
    username: str | None = None
    email: str | None = pydantic.Field(default=None, pattern=seed.EMAIL_PATTERN)
    revoked: bool = False


class _ProvisionalRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    integration_id: str


def add_routes(app: web.Application) -> None:
    app.router.add_get(ADMIN_PREFIX + "/state", _state)
    app.router.add_get(ADMIN_PREFIX + "/integrations/{integrationId}", _integration)
    app.router.add_get(ADMIN_PREFIX + "/faults", _list_faults)
    app.router.add_post(ADMIN_PREFIX + "/faults", _add_fault)
    app.router.add_delete(ADMIN_PREFIX + "/faults", _clear_faults)
    app.router.add_post(ADMIN_PREFIX + "/keys", _keys)
    app.router.add_post(ADMIN_PREFIX + "/provisional", _provisional)
    app.router.add_delete(ADMIN_PREFIX + "/provisional/{integrationId}", _clear_provisional)
    app.router.add_post(ADMIN_PREFIX + "/reset-calls", _reset_calls)


async def _state(request: web.Request) -> web.Response:
    return json_response(views.snapshot(request.app[SIMULATION].world))


async def _integration(request: web.Request) -> web.Response:
    """One integration as in /_sim/state (its current and provisional token): cheap enough to poll every 10 ms."""
    integration = request.app[SIMULATION].world.integrations.get(request.match_info["integrationId"])
    if integration is None:
        return error_response(errors.V1Error(HTTPStatus.NOT_FOUND, "Integration not found"))
    return json_response(views.integration_view(integration))


async def _list_faults(request: web.Request) -> web.Response:
    return json_response({"faults": [rule.view() for rule in request.app[SIMULATION].fault_book.rules()]})


async def _add_fault(request: web.Request) -> web.Response:
    try:
        spec = faults.FaultSpec.model_validate(await _json_object(request))
    except pydantic.ValidationError as error:
        return _invalid(error)
    except errors.V1Error as error:
        return error_response(error)
    return json_response(request.app[SIMULATION].fault_book.add(spec).view())


async def _clear_faults(request: web.Request) -> web.Response:
    return json_response({"cleared": request.app[SIMULATION].fault_book.clear()})


async def _keys(request: web.Request) -> web.Response:
    world = request.app[SIMULATION].world
    try:
        body = _KeyRequest.model_validate(await _json_object(request))
        record = _revoke_key(world, body) if body.revoked else _add_key(world, body)
    except pydantic.ValidationError as error:
        return _invalid(error)
    except errors.V1Error as error:
        return error_response(error)
    return json_response(views.key_view(record))


def _revoke_key(world: state.World, body: _KeyRequest) -> state.ApiKeyRecord:
    if body.group is not None or body.orgs is not None:
        raise _bad_request("To revoke a key send only 'key' and 'revoked'")
    try:
        return world.revoke_key(body.key)
    except KeyError:
        raise errors.V1Error(HTTPStatus.NOT_FOUND, "No such API key") from None


def _add_key(world: state.World, body: _KeyRequest) -> state.ApiKeyRecord:
    if (body.group is None) == (body.orgs is None):
        raise _bad_request("A key needs exactly one of 'group' or 'orgs'")
    if body.group is not None and body.group not in world.groups:
        raise _bad_request(f"Group {body.group} is not in the simulated world")
    unknown_orgs = [org_id for org_id in body.orgs or () if org_id not in world.orgs]
    if unknown_orgs:
        raise _bad_request(f"Orgs not in the simulated world: {', '.join(unknown_orgs)}")
    return world.add_key(body.key, group_id=body.group, org_ids=body.orgs, username=body.username, email=body.email)


async def _provisional(request: web.Request) -> web.Response:
    """Issue a provisional token as if another tool had provisioned it (same group-wide rule as the API)."""
    world = request.app[SIMULATION].world
    try:
        body = _ProvisionalRequest.model_validate(await _json_object(request))
        integration = world.integrations.get(body.integration_id)
        if integration is None:
            raise errors.V1Error(HTTPStatus.NOT_FOUND, f"Integration {body.integration_id} not found")
        token = operations.provision_provisional_token(world, integration, origin=TokenOrigin.ADMIN)
    except pydantic.ValidationError as error:
        return _invalid(error)
    except errors.V1Error as error:
        return error_response(error)
    return json_response({"integrationId": integration.id, "provisionalBrokerToken": token})


async def _clear_provisional(request: web.Request) -> web.Response:
    """Drop an integration's outstanding provisional token, as Snyk support does when asked (the API cannot)."""
    integration = request.app[SIMULATION].world.integrations.get(request.match_info["integrationId"])
    if integration is None:
        return error_response(errors.V1Error(HTTPStatus.NOT_FOUND, "Integration not found"))
    cleared = operations.clear_provisional_token(integration)
    return json_response({"integrationId": integration.id, "cleared": cleared})


async def _reset_calls(request: web.Request) -> web.Response:
    return json_response({"cleared": request.app[SIMULATION].world.reset_calls()})


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        raise _bad_request("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("Request body must be a JSON object")
    return body


def _invalid(error: pydantic.ValidationError) -> web.Response:
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg'].removeprefix('Value error, ')}"
        for problem in error.errors(include_url=False, include_input=False)
    ]
    return error_response(_bad_request("; ".join(problems)))


def _bad_request(message: str) -> errors.V1Error:
    return errors.V1Error(HTTPStatus.BAD_REQUEST, message)
