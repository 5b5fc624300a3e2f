"""The Broker dispatcher: the call a broker client in high-availability mode makes before it connects.

A client with ``BROKER_HA_MODE_ENABLED=true`` asks ``POST {API_BASE_URL}/hidden/brokers/{sha256 of its token}/
connections/{client id}`` which broker server to connect to, and retries for minutes (blocking) if that fails. The
simulator answers for any token it has issued (current, provisional or superseded: the broker server decides what
it accepts) with one fixed server id, and 404 for a token it never issued. Allocations are kept in memory and listed,
by token fingerprint only, under ``GET /_sim/dispatcher``. Not authenticated, rate limited, faulted or call-logged.
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus

from aiohttp import web

from snyk_broker_operator.simulator import errors, state
from snyk_broker_operator.simulator.admin import ADMIN_PREFIX
from snyk_broker_operator.simulator.context import SIMULATION, error_response, json_response

DISPATCHER_PREFIX = "/hidden/brokers"
SERVER_ID = "simulated-broker-server-0"
ALLOCATIONS: web.AppKey[list[dict[str, str]]] = web.AppKey("dispatcher_allocations")


def add_routes(app: web.Application) -> None:
    app[ALLOCATIONS] = []
    app.router.add_post(DISPATCHER_PREFIX + "/{hashedToken}/connections/{clientId}", _allocate)
    app.router.add_get(ADMIN_PREFIX + "/dispatcher", _allocations)


async def _allocate(request: web.Request) -> web.Response:
    world = request.app[SIMULATION].world
    hashed, client_id = request.match_info["hashedToken"], request.match_info["clientId"]
    issued = next((i for i in world.issued if hashlib.sha256(i.token.encode()).hexdigest() == hashed), None)
    if issued is None:
        return error_response(errors.V1Error(HTTPStatus.NOT_FOUND, "No broker token with that hash"))
    request.app[ALLOCATIONS].append(
        {"tokenFingerprint": state.fingerprint(issued.token), "clientId": client_id, "serverId": SERVER_ID}
    )
    body = {"data": {"type": "broker_connection", "id": client_id, "attributes": {"server_id": SERVER_ID}}}
    return json_response(body, status=HTTPStatus.CREATED)


async def _allocations(request: web.Request) -> web.Response:
    allocations = request.app[ALLOCATIONS]
    return json_response({"allocations": [dict(allocation) for allocation in allocations]})
