"""The per-key request budget holds against a simulator that rate-limits the key like Snyk does.

The simulator enforces 1,000 requests a minute per key (a token bucket of 1,000, refilled at 1,000/60 per
second). Clients built from one LimiterRegistry with a 1,000/min budget share one bucket, so 3,000 calls split
across two clients get no 429 at all; the negative control shows a 2,000/min budget against the same server does
get 429s, so the positive test could have failed. Retries are off: a 429 would surface, not be hidden.

Both buckets read one fake monotonic clock (:class:`support.fake_time.FakeTime`) that moves only when the
client's limiter sleeps on it. The calls still go over real HTTP to a simulator on this event loop, but the
150 s of simulated pacing cost no real waiting, and the result no longer depends on how loaded the machine is.
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
from support.fake_time import FakeTime

GROUP = "6d000000-0000-4000-8000-000000000001"
ORG = "0d000000-0000-4000-8000-00000000000a"
GITLAB = "1d000000-0000-4000-8000-0000000000a2"
KEY = SecretStr("contract-budget-key")
SERVER_LIMIT_PER_MINUTE = 1000
CALLS_PER_CLIENT = 1500

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
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def sim(fake_time: FakeTime) -> AsyncIterator[RunningSimulator]:
    async with start_simulator(
        SEED, random_seed=1, rate_limit=SERVER_LIMIT_PER_MINUTE, rate_limit_clock=fake_time.clock
    ) as running:
        yield running


def fake_registry(fake_time: FakeTime) -> snyk.LimiterRegistry:
    return snyk.LimiterRegistry(clock=fake_time.clock, sleep=fake_time.sleep)


def connect(
    sim: RunningSimulator, registry: snyk.LimiterRegistry, fake_time: FakeTime, *, per_minute: int
) -> snyk.SnykClient:
    return snyk.SnykClient(
        api_key=KEY,
        api_url=sim.base_url,
        limiter=registry.for_key(KEY, requests_per_minute=per_minute),
        retry_policy=snyk.NO_RETRIES,
        # No retries, so these are never used; passed so nothing on the client side reads the real clock.
        clock=fake_time.clock,
        sleep=fake_time.sleep,
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


async def test_two_clients_sharing_a_key_stay_inside_its_budget(sim: RunningSimulator, fake_time: FakeTime) -> None:
    registry = fake_registry(fake_time)
    started = fake_time.clock()
    async with (
        connect(sim, registry, fake_time, per_minute=SERVER_LIMIT_PER_MINUTE) as first,
        connect(sim, registry, fake_time, per_minute=SERVER_LIMIT_PER_MINUTE) as second,
    ):
        assert first.limiter is second.limiter
        burst = first.limiter.burst
        outcomes = await asyncio.gather(
            *(one_call(client, index) for client in (first, second) for index in range(CALLS_PER_CLIENT)),
            return_exceptions=True,
        )
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert failures == []
    statuses = await call_statuses(sim)
    assert len(statuses) == 2 * CALLS_PER_CLIENT
    assert statuses.count(429) == 0
    # The calls went out at the budget, not below it (a limiter that crawled would pass the checks above
    # trivially): after the initial burst, each further call waited exactly one refill interval.
    paced_seconds = (2 * CALLS_PER_CLIENT - burst) * 60 / SERVER_LIMIT_PER_MINUTE
    assert fake_time.clock() - started == pytest.approx(paced_seconds, abs=0.5)


async def test_a_budget_above_the_servers_limit_does_get_rate_limited(
    sim: RunningSimulator, fake_time: FakeTime
) -> None:
    # Negative control: the same server and clock, a client budget of twice its limit. Stops at the first 429.
    async with connect(sim, fake_registry(fake_time), fake_time, per_minute=2 * SERVER_LIMIT_PER_MINUTE) as greedy:
        with pytest.raises(snyk.RateLimitedError):
            for index in range(3 * SERVER_LIMIT_PER_MINUTE):
                await one_call(greedy, index)
    statuses = await call_statuses(sim)
    assert 429 in statuses
    # It got past the server's full bucket and only then ran dry: the server counted on the shared clock.
    assert statuses.index(429) >= SERVER_LIMIT_PER_MINUTE
