"""The simulator's v1 API over real HTTP on 127.0.0.1: every success path and every documented error.

Served from the shipped example seed (group "acme": orgs platform and payments; group "globex": research).
Requests are raw httpx calls, so these tests pin the wire behaviour the operator's client will rely on.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from snyk_broker_operator.simulator import RunningSimulator

GROUP_KEY = "example-key-with-group-access"
PAYMENTS_KEY = "example-key-for-payments"
ACME = "3f0b5c1e-8a4d-4e2f-9b6a-000000000001"
PLATFORM = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a1"
PAYMENTS = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a2"
RESEARCH = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000c1"
GITHUB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a1"
GITLAB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a2"
GITLAB_TOKEN = "3f0b5c1e-8a4d-4e2f-9b6a-00000000b0a2"
MISSING = "00000000-0000-4000-8000-000000000000"
ENABLE_GITHUB = {"type": "github", "broker": {"enabled": True}}


RANDOM_SEED = 1  # the simulator fixture (conftest.py) uses it


def _assert_v1_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "error"}
    assert body["code"] == status
    assert uuid.UUID(response.headers["x-error-reference"])
    for fragment in fragments:
        assert fragment in body["message"]
    return body


async def _integration_state(admin: httpx.AsyncClient, integration_id: str) -> dict[str, Any]:
    integrations = (await admin.get("/state")).json()["integrations"]
    (found,) = [integration for integration in integrations if integration["id"] == integration_id]
    result: dict[str, Any] = found
    return result


async def test_base_and_admin_urls_point_at_the_running_server(simulator: RunningSimulator) -> None:
    assert simulator.base_url == f"http://127.0.0.1:{simulator.port}/v1"
    assert simulator.admin_url == f"http://127.0.0.1:{simulator.port}/_sim"
    assert simulator.port > 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "token not-a-known-key"}, {"Authorization": f"bearer {GROUP_KEY}"}],
    ids=["missing", "unknown", "wrong-scheme"],
)
async def test_a_request_without_a_usable_key_gets_snyks_401_body(
    simulator: RunningSimulator, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers) as client:
        response = await client.get("/user/me")

    body = _assert_v1_error(response, 401)
    assert body == {"code": 401, "message": "Not authorised", "error": "Not authorised"}


async def test_a_revoked_key_gets_401(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    assert (await api.get("/user/me")).status_code == 200

    revoked = await admin.post("/keys", json={"key": GROUP_KEY, "revoked": True})

    assert revoked.json()["revoked"] is True
    _assert_v1_error(await api.get("/user/me"), 401)


async def test_the_capitalised_token_scheme_is_accepted_too(simulator: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        response = await client.get("/user/me", headers={"Authorization": f"Token {GROUP_KEY}"})

    assert response.status_code == 200


async def test_user_me_names_the_user_and_every_org_the_key_reaches(api: httpx.AsyncClient) -> None:
    response = await api.get("/user/me")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert uuid.UUID(body["id"])
    assert body["username"]
    assert body["orgs"] == [
        {"id": PLATFORM, "name": "platform", "group": {"id": ACME, "name": "acme"}},
        {"id": PAYMENTS, "name": "payments", "group": {"id": ACME, "name": "acme"}},
    ]


async def test_list_integrations_is_a_flat_map_of_type_to_id(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/org/{PLATFORM}/integrations")

    assert response.status_code == 200
    assert response.json() == {"github": GITHUB, "gitlab": GITLAB}


async def test_get_integration_by_type_returns_its_id(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/org/{PLATFORM}/integrations/github")

    assert response.json() == {"id": GITHUB}


async def test_a_key_without_access_to_the_org_gets_403(simulator: RunningSimulator) -> None:
    async with httpx.AsyncClient(
        base_url=simulator.base_url, headers={"Authorization": f"token {PAYMENTS_KEY}"}
    ) as client:
        allowed = await client.get(f"/org/{PAYMENTS}/integrations")
        forbidden = await client.get(f"/org/{PLATFORM}/integrations")

    assert allowed.status_code == 200
    _assert_v1_error(forbidden, 403, PLATFORM)


async def test_unknown_org_integration_and_type_get_404_naming_what_is_missing(api: httpx.AsyncClient) -> None:
    _assert_v1_error(await api.get(f"/org/{MISSING}/integrations"), 404, "Org", MISSING)
    _assert_v1_error(await api.put(f"/org/{PLATFORM}/integrations/{MISSING}", json=ENABLE_GITHUB), 404, MISSING)
    _assert_v1_error(await api.get(f"/org/{PAYMENTS}/integrations/github"), 404, "github", PAYMENTS)
    _assert_v1_error(await api.get("/no/such/endpoint"), 404, "No such endpoint")


async def test_enabling_broker_issues_a_uuid4_token_and_enabling_again_returns_the_same_one(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    first = await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)
    second = await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)

    assert first.status_code == 200
    assert first.json()["id"] == GITHUB
    token = first.json()["brokerToken"]
    assert uuid.UUID(token).version == 4
    assert second.json() == first.json()
    issued = [entry for entry in (await admin.get("/state")).json()["issuedTokens"] if entry["origin"] == "api"]
    assert [(entry["token"], entry["kind"]) for entry in issued] == [(token, "broker")]


async def test_update_with_a_mismatched_type_is_400(api: httpx.AsyncClient) -> None:
    response = await api.put(
        f"/org/{PLATFORM}/integrations/{GITHUB}", json={"type": "gitlab", "broker": {"enabled": True}}
    )

    _assert_v1_error(response, 400, "does not match")


async def test_update_with_a_body_that_is_not_json_is_400(api: httpx.AsyncClient) -> None:
    response = await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", content=b"{not json")

    _assert_v1_error(response, 400, "JSON object")


async def test_disabling_broker_needs_credentials_and_then_clears_the_token(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    url = f"/org/{PLATFORM}/integrations/{GITLAB}"

    refused = await api.put(url, json={"type": "gitlab", "broker": {"enabled": False}})
    disabled = await api.put(
        url, json={"type": "gitlab", "broker": {"enabled": False}, "credentials": {"token": "GITLAB_TOKEN"}}
    )

    _assert_v1_error(refused, 400, "credentials")
    assert disabled.json() == {"id": GITLAB}
    gitlab = await _integration_state(admin, GITLAB)
    assert (gitlab["brokerEnabled"], gitlab["token"]) == (False, None)


async def test_provision_then_switch_rotates_the_token(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    provisioned = await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/provision-token")
    assert provisioned.status_code == 200
    assert provisioned.json()["id"] == GITLAB
    new_token = provisioned.json()["provisionalBrokerToken"]
    assert (await _integration_state(admin, GITLAB))["provisionalToken"] == new_token

    switched = await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/switch-token")

    assert switched.status_code == 200
    assert switched.content == b""
    gitlab = await _integration_state(admin, GITLAB)
    assert (gitlab["token"], gitlab["provisionalToken"]) == (new_token, None)


async def test_provisioning_needs_broker_enabled(api: httpx.AsyncClient) -> None:
    response = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")

    _assert_v1_error(response, 400, "not brokered")


async def test_a_second_provisional_token_in_the_group_is_refused_with_409(api: httpx.AsyncClient) -> None:
    await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)
    first = await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/provision-token")

    again = await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/provision-token")
    elsewhere_in_group = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")

    assert first.status_code == 200
    _assert_v1_error(again, 409, "provisional broker token is already outstanding")
    _assert_v1_error(elsewhere_in_group, 409, "provisional broker token is already outstanding")


async def test_switching_with_no_provisional_token_is_400(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    response = await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/switch-token")

    _assert_v1_error(response, 400, "no provisional broker token")
    assert (await _integration_state(admin, GITLAB))["token"] == GITLAB_TOKEN


async def test_clone_shares_the_token_and_switch_moves_the_clones_too(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    old = (await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)).json()["brokerToken"]
    cloned = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": PAYMENTS})
    clone_id = cloned.json()["newIntegrationId"]
    assert (await api.get(f"/org/{PAYMENTS}/integrations")).json() == {"github": clone_id}
    clone = await _integration_state(admin, clone_id)
    assert (clone["orgId"], clone["type"], clone["brokerEnabled"], clone["token"]) == (PAYMENTS, "github", True, old)

    provisional = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")
    new = provisional.json()["provisionalBrokerToken"]
    await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/switch-token")

    assert (await _integration_state(admin, GITHUB))["token"] == new
    assert (await _integration_state(admin, clone_id))["token"] == new
    assert (await _integration_state(admin, GITLAB))["token"] == GITLAB_TOKEN


async def test_clone_into_an_org_that_already_has_the_type_is_409_and_changes_nothing(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": PAYMENTS})
    before = (await admin.get("/state")).json()["integrations"]

    again = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": PAYMENTS})

    _assert_v1_error(again, 409, "already has a github integration")
    assert (await admin.get("/state")).json()["integrations"] == before


async def test_clone_across_groups_is_400(simulator: RunningSimulator, admin: httpx.AsyncClient) -> None:
    await admin.post("/keys", json={"key": "key-in-two-groups", "orgs": [PLATFORM, RESEARCH]})
    async with httpx.AsyncClient(
        base_url=simulator.base_url, headers={"Authorization": "token key-in-two-groups"}
    ) as client:
        response = await client.post(
            f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": RESEARCH}
        )

    _assert_v1_error(response, 400, "not in the same group")


async def test_clone_into_an_org_the_key_cannot_reach_is_403(api: httpx.AsyncClient) -> None:
    response = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": RESEARCH})

    _assert_v1_error(response, 403, RESEARCH)


async def test_clone_without_a_destination_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={})

    _assert_v1_error(response, 400, "destinationOrgPublicId")
