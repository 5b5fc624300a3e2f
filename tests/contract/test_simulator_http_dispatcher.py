"""The simulator's Broker dispatcher (what HA broker clients call first) and its one-integration admin read."""

from __future__ import annotations

import hashlib

import httpx

from snyk_broker_operator.simulator import RunningSimulator

PLATFORM = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a1"
GITHUB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a1"
GITLAB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a2"
GITLAB_TOKEN = "3f0b5c1e-8a4d-4e2f-9b6a-00000000b0a2"  # the example seed's brokered GitLab integration


def _hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_the_dispatcher_allocates_a_server_for_an_issued_token_and_lists_it_by_fingerprint(
    simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=simulator.root_url) as root:
        allocated = await root.post(f"/hidden/brokers/{_hashed(GITLAB_TOKEN)}/connections/client-1?version=x")
        unknown = await root.post(f"/hidden/brokers/{_hashed('never-issued')}/connections/client-2")

    assert allocated.status_code == 201
    assert allocated.json()["data"]["attributes"]["server_id"]
    assert unknown.status_code == 404
    listed = (await admin.get("/dispatcher")).json()["allocations"]
    fingerprint = "sha256:" + _hashed(GITLAB_TOKEN)[:12]
    assert [(a["clientId"], a["tokenFingerprint"]) for a in listed] == [("client-1", fingerprint)]
    assert GITLAB_TOKEN not in str(listed)


async def test_one_integration_reads_back_its_current_and_provisional_token(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json={"type": "github", "broker": {"enabled": True}})
    provisional = (await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/authentication/provision-token")).json()

    one = (await admin.get(f"/integrations/{GITHUB}")).json()
    state = next(i for i in (await admin.get("/state")).json()["integrations"] if i["id"] == GITHUB)
    assert one == state
    assert one["provisionalToken"] == provisional["provisionalBrokerToken"] and one["token"]
    assert (await admin.get("/integrations/00000000-0000-4000-8000-000000000000")).status_code == 404
