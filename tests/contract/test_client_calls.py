"""SnykClient against the running simulator over real HTTP: every call's success path, every documented
failure status mapped to its error, and token sharing through clone + switch.

Nothing is faked: a fresh simulator per test (seed below), the client's real httpx transport on 127.0.0.1,
and assertions on what the client returns and on what the simulator's admin API says happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.simulator import RunningSimulator, start_simulator

GROUP = "6a000000-0000-4000-8000-000000000001"
OTHER_GROUP = "6a000000-0000-4000-8000-000000000002"
ORG_A = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0a000000-0000-4000-8000-00000000000b"
ORG_C = "0a000000-0000-4000-8000-00000000000c"
ORG_FOREIGN = "0a000000-0000-4000-8000-00000000000f"
A_GITHUB = "1a000000-0000-4000-8000-0000000000a1"
A_GITLAB = "1a000000-0000-4000-8000-0000000000a2"
C_GITLAB = "1a000000-0000-4000-8000-0000000000c2"
FOREIGN_BITBUCKET = "1a000000-0000-4000-8000-0000000000f1"
A_GITLAB_TOKEN = "70000000-0000-4000-8000-0000000000a2"
MISSING = "00000000-dead-4000-8000-000000000000"

GROUP_KEY = SecretStr("contract-group-key")
ORG_B_KEY = SecretStr("contract-org-b-key")
DOOMED_KEY = SecretStr("contract-key-to-revoke")

SEED: dict[str, Any] = {
    "rateLimitPerMinute": 100_000,
    "groups": [
        {
            "id": GROUP,
            "name": "acme",
            "orgs": [
                {
                    "id": ORG_A,
                    "name": "a",
                    "integrations": [
                        {"id": A_GITHUB, "type": "github", "brokerEnabled": False},
                        {"id": A_GITLAB, "type": "gitlab", "brokerToken": A_GITLAB_TOKEN},
                    ],
                },
                {"id": ORG_B, "name": "b", "integrations": []},
                {"id": ORG_C, "name": "c", "integrations": [{"id": C_GITLAB, "type": "gitlab", "brokerEnabled": True}]},
            ],
        },
        {
            "id": OTHER_GROUP,
            "name": "globex",
            "orgs": [
                {
                    "id": ORG_FOREIGN,
                    "name": "f",
                    "integrations": [{"id": FOREIGN_BITBUCKET, "type": "bitbucket-server", "brokerEnabled": True}],
                }
            ],
        },
    ],
    "apiKeys": [
        {"key": GROUP_KEY.get_secret_value(), "group": GROUP},
        {"key": ORG_B_KEY.get_secret_value(), "orgs": [ORG_B]},
        {"key": DOOMED_KEY.get_secret_value(), "group": GROUP},
    ],
}


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with start_simulator(SEED, random_seed=11) as running:
        yield running


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[snyk.SnykClient]:
    async with connect(sim, GROUP_KEY) as connected:
        yield connected


def connect(sim: RunningSimulator, key: SecretStr) -> snyk.SnykClient:
    return snyk.SnykClient(
        api_key=key, api_url=sim.base_url, limiter=snyk.LimiterRegistry().for_key(key), retry_policy=snyk.NO_RETRIES
    )


async def sim_state(sim: RunningSimulator) -> dict[str, Any]:
    async with httpx.AsyncClient() as admin:
        response = await admin.get(sim.admin_url + "/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state


def integration_in(state: dict[str, Any], integration_id: str) -> dict[str, Any]:
    return next(item for item in state["integrations"] if item["id"] == integration_id)


# Success paths


async def test_check_credentials_reports_user_and_visible_orgs(client: snyk.SnykClient) -> None:
    credentials = await client.check_credentials()
    assert credentials.user_id
    assert set(credentials.org_ids) == {ORG_A, ORG_B, ORG_C}


async def test_list_orgs_lists_the_orgs_a_key_can_use_with_their_group(sim: RunningSimulator) -> None:
    async with connect(sim, GROUP_KEY) as group_client, connect(sim, ORG_B_KEY) as org_client:
        every = await group_client.list_orgs()
        one = await org_client.list_orgs()

    assert [(org.id, org.name, org.group_id, org.group_name) for org in every] == [
        (ORG_A, "a", GROUP, "acme"),
        (ORG_B, "b", GROUP, "acme"),
        (ORG_C, "c", GROUP, "acme"),
    ]
    assert all(org.slug for org in every)
    assert [org.id for org in one] == [ORG_B]


async def test_list_orgs_with_a_revoked_key_is_an_authentication_error(sim: RunningSimulator) -> None:
    async with httpx.AsyncClient() as admin:
        revoke = {"key": DOOMED_KEY.get_secret_value(), "revoked": True}
        (await admin.post(sim.admin_url + "/keys", json=revoke)).raise_for_status()
    async with connect(sim, DOOMED_KEY) as doomed:
        with pytest.raises(snyk.AuthenticationError):
            await doomed.list_orgs()


async def test_list_integrations_maps_type_to_id(client: snyk.SnykClient) -> None:
    assert await client.list_integrations(org_id=ORG_A) == {"github": A_GITHUB, "gitlab": A_GITLAB}
    assert await client.list_integrations(org_id=ORG_B) == {}


async def test_get_integration_by_type(client: snyk.SnykClient) -> None:
    assert await client.get_integration_by_type(org_id=ORG_A, integration_type="gitlab") == A_GITLAB


async def test_enable_broker_returns_the_token_snyk_holds_and_is_repeatable(
    sim: RunningSimulator, client: snyk.SnykClient
) -> None:
    grant = await client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="github")
    again = await client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="github")
    held = integration_in(await sim_state(sim), A_GITHUB)
    assert grant.integration_id == A_GITHUB
    assert held["brokerEnabled"] is True
    assert grant.token.get_secret_value() == held["token"]
    assert again.token.get_secret_value() == held["token"]


async def test_provision_then_switch_makes_the_provisional_token_current(
    sim: RunningSimulator, client: snyk.SnykClient
) -> None:
    provisional = await client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
    before = integration_in(await sim_state(sim), A_GITLAB)
    assert provisional.integration_id == A_GITLAB
    assert before["provisionalToken"] == provisional.token.get_secret_value()
    assert before["token"] == A_GITLAB_TOKEN

    await client.switch_token(org_id=ORG_A, integration_id=A_GITLAB)  # typed to return None, so mypy checks that
    after = integration_in(await sim_state(sim), A_GITLAB)
    assert after["token"] == provisional.token.get_secret_value()
    assert after["provisionalToken"] is None


async def test_clone_copies_the_integration_and_its_token(sim: RunningSimulator, client: snyk.SnykClient) -> None:
    new_id = await client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_B)
    clone = integration_in(await sim_state(sim), new_id)
    assert clone["orgId"] == ORG_B
    assert clone["token"] == A_GITLAB_TOKEN
    assert await client.list_integrations(org_id=ORG_B) == {"gitlab": new_id}


async def test_switching_the_source_moves_its_clones_to_the_new_token(
    sim: RunningSimulator, client: snyk.SnykClient
) -> None:
    clone_id = await client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_B)
    provisional = await client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
    await client.switch_token(org_id=ORG_A, integration_id=A_GITLAB)
    state = await sim_state(sim)
    new_token = provisional.token.get_secret_value()
    assert integration_in(state, A_GITLAB)["token"] == new_token
    assert integration_in(state, clone_id)["token"] == new_token
    assert integration_in(state, C_GITLAB)["token"] != new_token  # not a clone: keeps its own token


# Failures


async def test_unknown_key_is_an_authentication_error(sim: RunningSimulator) -> None:
    async with connect(sim, SecretStr("not-a-key-the-simulator-knows")) as stranger:
        with pytest.raises(snyk.AuthenticationError) as raised:
            await stranger.check_credentials()
    assert type(raised.value) is snyk.AuthenticationError
    assert raised.value.status_code == 401
    assert 'Snyk said: "Not authorised"' in str(raised.value)


async def test_revoked_key_is_an_authentication_error(sim: RunningSimulator) -> None:
    async with connect(sim, DOOMED_KEY) as doomed:
        assert await doomed.list_integrations(org_id=ORG_A)
        async with httpx.AsyncClient() as admin:
            revoked = await admin.post(
                sim.admin_url + "/keys", json={"key": DOOMED_KEY.get_secret_value(), "revoked": True}
            )
            revoked.raise_for_status()
        with pytest.raises(snyk.AuthenticationError, match="list_integrations"):
            await doomed.list_integrations(org_id=ORG_A)


async def test_key_without_access_to_the_org_is_permission_denied(sim: RunningSimulator) -> None:
    async with connect(sim, ORG_B_KEY) as narrow:
        assert await narrow.list_integrations(org_id=ORG_B) == {}
        with pytest.raises(snyk.PermissionDeniedError) as raised:
            await narrow.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
    assert raised.value.org_id == ORG_A
    assert f"no access to org {ORG_A}" in str(raised.value)


async def test_unknown_org_is_not_found_org(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.NotFoundError) as raised:
        await client.list_integrations(org_id=MISSING)
    assert raised.value.subject is snyk.NotFoundSubject.ORG
    assert f"org {MISSING} was not found" in str(raised.value)


async def test_unknown_integration_is_not_found_integration(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.NotFoundError) as raised:
        await client.provision_token(org_id=ORG_A, integration_id=MISSING)
    assert raised.value.subject is snyk.NotFoundSubject.INTEGRATION
    assert f"integration {MISSING} was not found" in str(raised.value)


async def test_missing_integration_type_is_not_found_type(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.NotFoundError) as raised:
        await client.get_integration_by_type(org_id=ORG_B, integration_type="github")
    assert raised.value.subject is snyk.NotFoundSubject.INTEGRATION_TYPE
    assert "no integration of type 'github'" in str(raised.value)


async def test_second_provisional_token_in_the_group_is_refused(sim: RunningSimulator, client: snyk.SnykClient) -> None:
    await client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
    with pytest.raises(snyk.ProvisionalTokenOutstandingError) as raised:
        await client.provision_token(org_id=ORG_C, integration_id=C_GITLAB)
    assert raised.value.status_code == 409
    assert f"(integration {A_GITLAB})" in str(raised.value)  # Snyk's text names the holder; kept, it is an id
    assert integration_in(await sim_state(sim), C_GITLAB)["provisionalToken"] is None


async def test_provisional_token_issued_elsewhere_also_blocks_provisioning(
    sim: RunningSimulator, client: snyk.SnykClient
) -> None:
    async with httpx.AsyncClient() as admin:
        issued = await admin.post(sim.admin_url + "/provisional", json={"integrationId": C_GITLAB})
        issued.raise_for_status()
    with pytest.raises(snyk.ProvisionalTokenOutstandingError):
        await client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)


async def test_switch_without_a_provisional_token_is_nothing_to_switch(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.NothingToSwitchError) as raised:
        await client.switch_token(org_id=ORG_A, integration_id=A_GITLAB)
    assert raised.value.status_code == 400
    assert "no provisional token to switch to" in str(raised.value)


async def test_clone_into_an_org_with_that_type_is_a_conflict(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.IntegrationConflictError) as raised:
        await client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_C)
    assert raised.value.status_code == 409


async def test_clone_into_an_unknown_org_is_not_found_destination(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.NotFoundError) as raised:
        await client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=MISSING)
    assert raised.value.subject is snyk.NotFoundSubject.DESTINATION_ORG


async def test_clone_into_an_org_the_key_cannot_see_is_permission_denied_on_that_org(
    client: snyk.SnykClient,
) -> None:
    with pytest.raises(snyk.PermissionDeniedError) as raised:
        await client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_FOREIGN)
    assert raised.value.org_id == ORG_FOREIGN


async def test_provisioning_a_non_brokered_integration_is_a_bad_request(client: snyk.SnykClient) -> None:
    with pytest.raises(snyk.BadRequestError) as raised:
        await client.provision_token(org_id=ORG_A, integration_id=A_GITHUB)
    assert raised.value.status_code == 400
    assert "not brokered" in str(raised.value)
