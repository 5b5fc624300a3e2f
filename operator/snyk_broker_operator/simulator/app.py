"""The aiohttp application: v1 routes under ``/v1`` and the request pipeline around them.

Every v1 request goes through :func:`_serve`: fault plan (:mod:`.faults`) -> authentication -> per-key rate
limit (:mod:`.ratelimit`) -> the endpoint's semantics (:mod:`.operations`) -> response, and is appended to
the call log. The admin routes under ``/_sim`` come from :mod:`.admin`. Bodies and keys are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from snyk_broker_operator.simulator import admin, dispatcher, errors, faults, operations
from snyk_broker_operator.simulator.context import SIMULATION, Simulation, error_response, json_response
from snyk_broker_operator.simulator.names import EndpointName

logger = logging.getLogger(__name__)

API_PREFIX = "/v1"
_INTEGRATION = API_PREFIX + "/org/{orgId}/integrations/{integrationId}"
_HANG_POLL_SECONDS = 0.05

# An endpoint's semantics: (simulation, api key, request) -> JSON body, or None for an empty 200.
Action = Callable[[Simulation, str | None, "ParsedRequest"], dict[str, Any] | None]


class ParsedRequest:
    """The parts of a request the operations need: path parameters, the JSON body (if any), and the site URL."""

    def __init__(self, match_info: dict[str, str], body: Any, site_url: str) -> None:
        self.match_info = match_info
        self.body = body
        # scheme://host[:port] the client reached; GET /orgs builds each org's url on it, as Snyk does on its host.
        self.site_url = site_url

    def param(self, name: str) -> str:
        return self.match_info[name]


def build_app(simulation: Simulation) -> web.Application:
    app = web.Application()
    app[SIMULATION] = simulation
    routes = [
        ("GET", API_PREFIX + "/user/me", EndpointName.USER_ME, _user_me),
        ("GET", API_PREFIX + "/orgs", EndpointName.LIST_ORGS, _list_orgs),
        ("GET", API_PREFIX + "/org/{orgId}/integrations", EndpointName.LIST_INTEGRATIONS, _list),
        ("POST", API_PREFIX + "/org/{orgId}/integrations", EndpointName.ADD_INTEGRATION, _add),
        ("GET", API_PREFIX + "/org/{orgId}/integrations/{type}", EndpointName.GET_INTEGRATION_BY_TYPE, _by_type),
        ("PUT", _INTEGRATION, EndpointName.UPDATE_INTEGRATION, _update),
        ("POST", _INTEGRATION + "/authentication/provision-token", EndpointName.PROVISION_TOKEN, _provision),
        ("POST", _INTEGRATION + "/authentication/switch-token", EndpointName.SWITCH_TOKEN, _switch),
        ("POST", _INTEGRATION + "/clone", EndpointName.CLONE_INTEGRATION, _clone),
        ("GET", _INTEGRATION + "/settings", EndpointName.GET_INTEGRATION_SETTINGS, _get_settings),
        ("PUT", _INTEGRATION + "/settings", EndpointName.UPDATE_INTEGRATION_SETTINGS, _update_settings),
    ]
    for method, path, endpoint, action in routes:
        app.router.add_route(method, path, _handler(endpoint, action))
    admin.add_routes(app)
    dispatcher.add_routes(app)
    # Anything else under /v1 gets a v1-shaped 404 (and is logged), rather than aiohttp's text page.
    app.router.add_route("*", API_PREFIX + "/{tail:.*}", _handler(EndpointName.UNKNOWN, _unknown))
    app.on_shutdown.append(_release_held_requests)
    return app


async def _release_held_requests(app: web.Application) -> None:
    app[SIMULATION].stopping.set()


def _handler(endpoint: EndpointName, action: Action) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _serve(request, endpoint, action)

    return handle


async def _serve(request: web.Request, endpoint: EndpointName, action: Action) -> web.StreamResponse:
    simulation = request.app[SIMULATION]
    key = _api_key(request)
    plan = simulation.fault_book.plan(endpoint)
    if plan.latency_seconds:
        await _pause(simulation, plan.latency_seconds)
    if plan.outcome is faults.Outcome.HANG:
        return await _hold_open(request, simulation, endpoint, key, fault="hang")
    if plan.outcome is faults.Outcome.RATE_LIMITED:
        error = errors.V1Error(HTTPStatus.TOO_MANY_REQUESTS, "Too many requests")
        return _respond_error(request, endpoint, key, error, plan.retry_after_seconds, fault="rate_limit_burst")
    if plan.outcome is faults.Outcome.ERROR and plan.error_status is not None:
        error = errors.V1Error(HTTPStatus(plan.error_status), "Simulated failure (fault injection)")
        return _respond_error(request, endpoint, key, error, plan.retry_after_seconds, fault="error")
    parsed = ParsedRequest(dict(request.match_info), await _json_body(request), f"{request.scheme}://{request.host}")
    try:
        record = simulation.world.authenticate(key)
        if not simulation.limiter.allow(record.fingerprint):
            error = errors.V1Error(HTTPStatus.TOO_MANY_REQUESTS, "Too many requests")
            return _respond_error(request, endpoint, key, error, plan.retry_after_seconds)
        body = action(simulation, key, parsed)
    except errors.V1Error as error:
        if plan.outcome is faults.Outcome.TIMEOUT_AFTER_EFFECT:
            return await _hold_open(request, simulation, endpoint, key, fault="timeout_after_effect")
        return _respond_error(request, endpoint, key, error, None)
    if plan.outcome is faults.Outcome.TIMEOUT_AFTER_EFFECT:
        return await _hold_open(request, simulation, endpoint, key, fault="timeout_after_effect")
    _record(request, endpoint, key, status=HTTPStatus.OK)
    return web.Response(status=HTTPStatus.OK) if body is None else json_response(body)


def _api_key(request: web.Request) -> str | None:
    """The key from ``Authorization: token <key>`` (Snyk's docs show both ``token`` and ``Token``)."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "token" or not credentials:
        return None
    return credentials


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        # Not a JSON object either, so the operation answers 400 after its auth checks.
        return _INVALID_JSON


_INVALID_JSON = object()


async def _pause(simulation: Simulation, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(simulation.stopping.wait(), timeout=seconds)


async def _hold_open(
    request: web.Request, simulation: Simulation, endpoint: EndpointName, key: str | None, *, fault: str
) -> web.StreamResponse:
    """Send nothing until the client gives up (or the server stops): what a client sees as a read timeout."""
    _record(request, endpoint, key, status=None, fault=fault)
    while not simulation.stopping.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await _pause(simulation, _HANG_POLL_SECONDS)
    transport = request.transport
    if transport is not None:
        transport.close()
    # Never delivered: the transport is closed, and aiohttp drops a response it cannot write without logging.
    return web.Response(status=HTTPStatus.GATEWAY_TIMEOUT)


def _respond_error(
    request: web.Request,
    endpoint: EndpointName,
    key: str | None,
    error: errors.V1Error,
    retry_after_seconds: int | None,
    *,
    fault: str | None = None,
) -> web.Response:
    _record(request, endpoint, key, status=error.status, fault=fault)
    return error_response(error, retry_after_seconds=retry_after_seconds)


def _record(
    request: web.Request, endpoint: EndpointName, key: str | None, *, status: int | None, fault: str | None = None
) -> None:
    world = request.app[SIMULATION].world
    call = world.record_call(
        method=request.method, path=request.path, endpoint=endpoint, status=status, key=key, fault=fault
    )
    logger.debug("v1 %s %s -> %s (%s, call %d)", call.method, call.path, call.status, call.endpoint, call.index)


def _user_me(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.user_me(simulation.world, key=key)


def _list_orgs(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.list_orgs(simulation.world, key=key, site_url=request.site_url)


def _list(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.list_integrations(simulation.world, key=key, org_id=request.param("orgId"))


def _add(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.add_integration(simulation.world, key=key, org_id=request.param("orgId"), body=request.body)


def _by_type(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.get_integration_by_type(
        simulation.world, key=key, org_id=request.param("orgId"), integration_type=request.param("type")
    )


def _update(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.update_integration(
        simulation.world,
        key=key,
        org_id=request.param("orgId"),
        integration_id=request.param("integrationId"),
        body=request.body,
    )


def _provision(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.provision_token(
        simulation.world, key=key, org_id=request.param("orgId"), integration_id=request.param("integrationId")
    )


def _switch(simulation: Simulation, key: str | None, request: ParsedRequest) -> None:
    operations.switch_token(
        simulation.world, key=key, org_id=request.param("orgId"), integration_id=request.param("integrationId")
    )


def _clone(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.clone_integration(
        simulation.world,
        key=key,
        org_id=request.param("orgId"),
        integration_id=request.param("integrationId"),
        body=request.body,
    )


def _get_settings(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.get_integration_settings(
        simulation.world, key=key, org_id=request.param("orgId"), integration_id=request.param("integrationId")
    )


def _update_settings(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    return operations.update_integration_settings(
        simulation.world,
        key=key,
        org_id=request.param("orgId"),
        integration_id=request.param("integrationId"),
        body=request.body,
    )


def _unknown(simulation: Simulation, key: str | None, request: ParsedRequest) -> dict[str, Any]:
    raise errors.V1Error(HTTPStatus.NOT_FOUND, f"No such endpoint: /{request.param('tail')}")
