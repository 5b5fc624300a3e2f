"""The per-key request budget holds against a simulator that rate-limits the key like Snyk does.

The simulator enforces 1,000 requests a minute per key (a token bucket of 1,000, refilled at 1,000/60 per
second). Clients built from one LimiterRegistry with a 1,000/min budget share one bucket, so 3,000 calls split
across two clients get no 429 at all; the negative control shows a 2,000/min budget against the same server does
get 429s, so the positive test could have failed. Retries are off: a 429 would surface, not be hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.simulator import RunningSimulator, start_simulator

GROUP = "6d000000-0000-4000-8000-000000000001"
ORG = "0d000000-0000-4000-8000-00000000000a"
GITLAB = "1d000000-0000-4000-8000-0000000000a2"
KEY = SecretStr("contract-budget-key")
SERVER_LIMIT_PER_MINUTE = 1000

SEED: dict[str, Any] = {
    "groups": [
        {
            "id": GROUP,
            "name": "acme",
            "orgs": [
                {"id": ORG, "name": "a", "integrations": [{"id": GITLAB, "type": "gitlab", "brokerEnabled": True}]}
            ],
        }
    ],
    "apiKeys": [{"key": KEY.get_secret_value(), "group": GROUP}],
}


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with start_simulator(SEED, random_seed=1, rate_limit=SERVER_LIMIT_PER_MINUTE) as running:
        yield running


def connect(sim: RunningSimulator, registry: snyk.LimiterRegistry, *, per_minute: int) -> snyk.SnykClient:
    return snyk.SnykClient(
        api_key=KEY,
        api_url=sim.base_url,
        limiter=registry.for_key(KEY, requests_per_minute=per_minute),
        retry_policy=snyk.NO_RETRIES,
    )


async def call_statuses(sim: RunningSimulator) -> list[int | None]:
    async with httpx.AsyncClient() as admin:
        response = await admin.get(sim.admin_url + "/state")
        response.raise_for_status()
        return [call["status"] for call in response.json()["calls"]]


async def one_call(client: snyk.SnykClient, index: int) -> None:
    if index % 2:
        await client.list_integrations(org_id=ORG)
    else:
        await client.get_integration_by_type(org_id=ORG, integration_type="gitlab")


@pytest.mark.slow
async def test_two_clients_sharing_a_key_stay_inside_its_budget(sim: RunningSimulator) -> None:
    registry = snyk.LimiterRegistry()
    async with (
        connect(sim, registry, per_minute=SERVER_LIMIT_PER_MINUTE) as first,
        connect(sim, registry, per_minute=SERVER_LIMIT_PER_MINUTE) as second,
    ):
        assert first.limiter is second.limiter
        outcomes = await asyncio.gather(
            *(one_call(client, index) for client in (first, second) for index in range(1500)),
            return_exceptions=True,
        )
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert failures == []
    statuses = await call_statuses(sim)
    assert len(statuses) == 3000
    assert statuses.count(429) == 0


async def test_a_budget_above_the_servers_limit_does_get_rate_limited(sim: RunningSimulator) -> None:
    # Negative control: the same server, a client budget of twice its limit. Stops at the first 429.
    async with connect(sim, snyk.LimiterRegistry(), per_minute=2 * SERVER_LIMIT_PER_MINUTE) as greedy:
        with pytest.raises(snyk.RateLimitedError):
            for index in range(3 * SERVER_LIMIT_PER_MINUTE):
                await one_call(greedy, index)
    assert 429 in await call_statuses(sim)
