"""The admin API (/_sim), the call log, reproducible tokens, and keeping keys and tokens out of logs."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import httpx
import pytest

from snyk_broker_operator.simulator import RunningSimulator, shipped_seed_path, start_simulator

GROUP_KEY = "example-key-with-group-access"
ACME = "3f0b5c1e-8a4d-4e2f-9b6a-000000000001"
PLATFORM = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a1"
PAYMENTS = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a2"
GITHUB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a1"
GITLAB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a2"
ENABLE_GITHUB = {"type": "github", "broker": {"enabled": True}}


RANDOM_SEED = 5  # the simulator fixture (conftest.py) uses it


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


async def _rotate_github(api: httpx.AsyncClient) -> list[str]:
    enabled = await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)
    provisioned = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")
    cloned = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": PAYMENTS})
    return [
        enabled.json()["brokerToken"],
        provisioned.json()["provisionalBrokerToken"],
        cloned.json()["newIntegrationId"],
    ]


async def _tokens_for(random_seed: int) -> list[str]:
    async with (
        start_simulator(shipped_seed_path(), random_seed=random_seed) as running,
        httpx.AsyncClient(base_url=running.base_url, headers={"Authorization": f"token {GROUP_KEY}"}) as api,
    ):
        return await _rotate_github(api)


async def test_the_same_random_seed_gives_the_same_tokens_and_ids() -> None:
    first = await _tokens_for(9)

    assert first == await _tokens_for(9)
    assert first != await _tokens_for(10)
    assert len(set(first)) == 3


async def test_the_call_log_records_every_request_with_a_key_fingerprint_never_the_key(
    simulator: RunningSimulator, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await api.get("/user/me")
    await api.get(f"/org/{PLATFORM}/integrations/bitbucket-cloud")
    async with httpx.AsyncClient(base_url=simulator.base_url) as anonymous:
        await anonymous.get("/user/me")

    response = await admin.get("/state")

    calls = response.json()["calls"]
    assert [(call["method"], call["path"], call["endpoint"], call["status"]) for call in calls] == [
        ("GET", "/v1/user/me", "user_me", 200),
        ("GET", f"/v1/org/{PLATFORM}/integrations/bitbucket-cloud", "get_integration_by_type", 404),
        ("GET", "/v1/user/me", "user_me", 401),
    ]
    assert [call["keyFingerprint"] for call in calls] == [_fingerprint(GROUP_KEY)] * 2 + [None]
    assert [call["index"] for call in calls] == [0, 1, 2]
    assert all(call["time"] for call in calls)
    assert GROUP_KEY not in response.text


async def test_reset_calls_empties_the_log_and_indexes_keep_counting(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await api.get("/user/me")
    await api.get("/user/me")

    reset = await admin.post("/reset-calls")
    await api.get("/user/me")

    assert reset.json() == {"cleared": 2}
    assert [call["index"] for call in (await admin.get("/state")).json()["calls"]] == [2]


async def test_state_lists_integrations_issued_tokens_and_keys(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    token = (await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)).json()["brokerToken"]

    state = (await admin.get("/state")).json()

    github = next(entry for entry in state["integrations"] if entry["id"] == GITHUB)
    assert github == {
        "groupId": ACME,
        "orgId": PLATFORM,
        "id": GITHUB,
        "type": "github",
        "brokerEnabled": True,
        "token": token,
        "provisionalToken": None,
    }
    issued = state["issuedTokens"][-1]
    assert (issued["token"], issued["kind"], issued["integrationId"], issued["orgId"]) == (
        token,
        "broker",
        GITHUB,
        PLATFORM,
    )
    assert issued["issuedAt"]
    assert {"fingerprint": _fingerprint(GROUP_KEY), "revoked": False, "group": ACME} in state["keys"]
    assert {"fingerprint": _fingerprint("example-key-for-payments"), "revoked": False, "orgs": [PAYMENTS]} in state[
        "keys"
    ]


async def test_a_key_added_through_the_admin_api_works_with_its_scope(
    simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    added = await admin.post("/keys", json={"key": "fresh-key", "orgs": [PAYMENTS]})
    async with httpx.AsyncClient(base_url=simulator.base_url, headers={"Authorization": "token fresh-key"}) as client:
        allowed = await client.get(f"/org/{PAYMENTS}/integrations")
        forbidden = await client.get(f"/org/{PLATFORM}/integrations")

    assert added.json() == {"fingerprint": _fingerprint("fresh-key"), "revoked": False, "orgs": [PAYMENTS]}
    assert (allowed.status_code, forbidden.status_code) == (200, 403)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"key": "k", "group": "00000000-0000-4000-8000-000000000000"}, 400),
        ({"key": "k", "orgs": ["00000000-0000-4000-8000-000000000000"]}, 400),
        ({"key": "k"}, 400),
        ({"key": "never-added", "revoked": True}, 404),
        ({"group": ACME}, 400),
    ],
    ids=["unknown-group", "unknown-org", "no-scope", "revoke-unknown", "no-key"],
)
async def test_a_bad_key_request_is_refused(admin: httpx.AsyncClient, body: dict[str, Any], status: int) -> None:
    response = await admin.post("/keys", json=body)

    assert response.status_code == status
    assert response.json()["code"] == status


async def test_a_foreign_provisional_token_blocks_provisioning_in_the_group_until_switched(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)
    seeded = await admin.post("/provisional", json={"integrationId": GITLAB})
    foreign = seeded.json()["provisionalBrokerToken"]

    blocked = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")
    await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/switch-token")
    unblocked = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")

    assert seeded.json()["integrationId"] == GITLAB
    assert blocked.status_code == 409
    assert unblocked.status_code == 200
    state = (await admin.get("/state")).json()
    gitlab = next(entry for entry in state["integrations"] if entry["id"] == GITLAB)
    assert gitlab["token"] == foreign
    assert any(entry["token"] == foreign and entry["origin"] == "admin" for entry in state["issuedTokens"])


async def test_clearing_a_provisional_token_unblocks_the_group_and_keeps_it_in_the_ledger(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)
    lost = (await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")).json()
    blocked = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")

    cleared = await admin.delete(f"/provisional/{GITHUB}")
    again = await admin.delete(f"/provisional/{GITHUB}")
    unblocked = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")

    assert blocked.status_code == 409
    assert cleared.json() == {"integrationId": GITHUB, "cleared": True}
    assert again.json() == {"integrationId": GITHUB, "cleared": False}
    assert unblocked.status_code == 200
    assert unblocked.json()["provisionalBrokerToken"] != lost["provisionalBrokerToken"]
    state = (await admin.get("/state")).json()
    assert any(entry["token"] == lost["provisionalBrokerToken"] for entry in state["issuedTokens"])
    assert (await admin.delete("/provisional/00000000-0000-4000-8000-000000000000")).status_code == 404


async def test_a_foreign_provisional_token_for_an_unknown_integration_is_404(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/provisional", json={"integrationId": "00000000-0000-4000-8000-000000000000"})

    assert response.status_code == 404


async def test_no_key_or_token_reaches_the_logs(api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    tokens = await _rotate_github(api)
    await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/switch-token")

    assert caplog.records, "the simulator logs each call at debug level"
    for secret in [GROUP_KEY, *tokens[:2]]:
        assert secret not in caplog.text
