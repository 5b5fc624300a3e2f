"""SnykClient retries against injected simulator faults, over real HTTP: what is retried, what is not, and
proof from the simulator's call log that a provision is never blindly repeated.

Faults come from the simulator's admin API (``POST /_sim/faults``); waits are real but short (tight timeouts
and small backoff), and the client's sleep is wrapped only to record the delays it chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.simulator import RunningSimulator, start_simulator

GROUP = "6b000000-0000-4000-8000-000000000001"
ORG = "0b000000-0000-4000-8000-00000000000a"
GITLAB = "1b000000-0000-4000-8000-0000000000a2"
KEY = SecretStr("contract-faults-key")

SEED: dict[str, Any] = {
    "rateLimitPerMinute": 100_000,
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

FAST_RETRIES = snyk.RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.1, rate_limit_delay=0.2, max_elapsed=10)
SHORT_TIMEOUT = httpx.Timeout(5.0, read=0.5)


class RecordingSleep:
    """Really sleeps (so real time passes) and remembers each delay the client chose."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(seconds)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    async with start_simulator(SEED, random_seed=5) as running:
        yield running


def connect(
    base_url: str, *, sleep: RecordingSleep | None = None, policy: snyk.RetryPolicy = FAST_RETRIES, **options: Any
) -> snyk.SnykClient:
    return snyk.SnykClient(
        api_key=KEY,
        api_url=base_url,
        limiter=snyk.LimiterRegistry().for_key(KEY),
        retry_policy=policy,
        timeout=SHORT_TIMEOUT,
        random=lambda: 0.0,
        sleep=sleep or RecordingSleep(),
        **options,
    )


async def add_fault(sim: RunningSimulator, **fault: Any) -> None:
    async with httpx.AsyncClient() as admin:
        response = await admin.post(sim.admin_url + "/faults", json=fault)
        response.raise_for_status()


async def sim_state(sim: RunningSimulator) -> dict[str, Any]:
    async with httpx.AsyncClient() as admin:
        response = await admin.get(sim.admin_url + "/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state


async def calls_to(sim: RunningSimulator, endpoint: str) -> list[dict[str, Any]]:
    return [call for call in (await sim_state(sim))["calls"] if call["endpoint"] == endpoint]


def provisional_token_of(state: dict[str, Any]) -> str | None:
    token: str | None = next(item for item in state["integrations"] if item["id"] == GITLAB)["provisionalToken"]
    return token


# Rate limiting


async def test_429_with_retry_after_is_waited_out_then_retried(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="list_integrations", rateLimitBurst=1, retryAfterSeconds=1)
    sleep = RecordingSleep()
    async with connect(sim.base_url, sleep=sleep) as client:
        started = time.monotonic()
        assert await client.list_integrations(org_id=ORG) == {"gitlab": GITLAB}
        elapsed = time.monotonic() - started
    assert sleep.delays == [1.0]
    assert elapsed >= 1.0
    assert [call["status"] for call in await calls_to(sim, "list_integrations")] == [429, 200]


async def test_429_without_retry_after_waits_the_default(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="get_integration_by_type", rateLimitBurst=1)
    sleep = RecordingSleep()
    async with connect(sim.base_url, sleep=sleep) as client:
        assert await client.get_integration_by_type(org_id=ORG, integration_type="gitlab") == GITLAB
    assert sleep.delays == [FAST_RETRIES.rate_limit_delay]
    assert [call["status"] for call in await calls_to(sim, "get_integration_by_type")] == [429, 200]


async def test_429_on_provision_is_retried_because_snyk_refused_before_acting(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="provision_token", rateLimitBurst=1, retryAfterSeconds=0)
    async with connect(sim.base_url) as client:
        provisional = await client.provision_token(org_id=ORG, integration_id=GITLAB)
    state = await sim_state(sim)
    assert provisional_token_of(state) == provisional.token.get_secret_value()
    assert [call["status"] for call in state["calls"]] == [429, 200]


async def test_429_surfaces_with_retry_after_when_not_retried(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="list_integrations", rateLimitBurst=1, retryAfterSeconds=42)
    async with connect(sim.base_url) as client:
        with pytest.raises(snyk.RateLimitedError) as raised:
            await client.list_integrations(org_id=ORG)  # 42 s is beyond max_elapsed: give up at once
    assert raised.value.retry_after == 42.0
    assert len(await calls_to(sim, "list_integrations")) == 1


# Server errors


async def test_5xx_on_a_get_is_retried_until_it_succeeds(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="get_integration_by_type", errorRate=1.0, errorStatus=503, count=2)
    sleep = RecordingSleep()
    async with connect(sim.base_url, sleep=sleep) as client:
        assert await client.get_integration_by_type(org_id=ORG, integration_type="gitlab") == GITLAB
    assert len(sleep.delays) == 2
    assert [call["status"] for call in await calls_to(sim, "get_integration_by_type")] == [503, 503, 200]


async def test_5xx_that_persists_raises_unavailable_after_max_attempts(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="list_integrations", errorRate=1.0, errorStatus=500)
    async with connect(sim.base_url) as client:
        with pytest.raises(snyk.UnavailableError, match="HTTP 500"):
            await client.list_integrations(org_id=ORG)
    assert len(await calls_to(sim, "list_integrations")) == FAST_RETRIES.max_attempts


async def test_5xx_on_provision_is_ambiguous_and_sent_once(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="provision_token", errorRate=1.0, errorStatus=502, count=1)
    async with connect(sim.base_url) as client:
        with pytest.raises(snyk.AmbiguousError, match="provision_token"):
            await client.provision_token(org_id=ORG, integration_id=GITLAB)
    assert len(await calls_to(sim, "provision_token")) == 1


# Timeouts


async def test_hang_on_a_get_is_retried(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="list_integrations", hang=True, count=1)
    async with connect(sim.base_url) as client:
        assert await client.list_integrations(org_id=ORG) == {"gitlab": GITLAB}
    calls = await calls_to(sim, "list_integrations")
    assert [(call["status"], call["fault"]) for call in calls] == [(None, "hang"), (200, None)]


async def test_provision_timing_out_before_its_effect_is_ambiguous_and_not_repeated(sim: RunningSimulator) -> None:
    await add_fault(sim, endpoint="provision_token", hang=True, count=1)
    async with connect(sim.base_url) as client:
        with pytest.raises(snyk.AmbiguousError) as raised:
            await client.provision_token(org_id=ORG, integration_id=GITLAB)
    assert "after the request was sent" in str(raised.value)
    state = await sim_state(sim)
    assert len([call for call in state["calls"] if call["endpoint"] == "provision_token"]) == 1
    assert provisional_token_of(state) is None  # the client cannot know this; the operator must re-observe


async def test_provision_timing_out_after_its_effect_is_ambiguous_and_sent_exactly_once(
    sim: RunningSimulator,
) -> None:
    await add_fault(sim, endpoint="provision_token", timeoutAfterEffect=1)
    async with connect(sim.base_url) as client:
        with pytest.raises(snyk.AmbiguousError) as raised:
            await client.provision_token(org_id=ORG, integration_id=GITLAB)
    message = str(raised.value)
    assert f"provision_token (org {ORG}, integration {GITLAB})" in message
    assert "may or may not have taken effect" in message
    assert "Re-read the integration's state" in message
    state = await sim_state(sim)
    provisions = [call for call in state["calls"] if call["endpoint"] == "provision_token"]
    assert [(call["status"], call["fault"]) for call in provisions] == [(None, "timeout_after_effect")]
    assert provisional_token_of(state) is not None  # it did take effect: one token issued, none lost to a repeat
    assert len([token for token in state["issuedTokens"] if token["kind"] == "provisional"]) == 1


async def test_switch_timing_out_after_its_effect_is_ambiguous_and_sent_once(sim: RunningSimulator) -> None:
    async with httpx.AsyncClient() as admin:
        (await admin.post(sim.admin_url + "/provisional", json={"integrationId": GITLAB})).raise_for_status()
    await add_fault(sim, endpoint="switch_token", timeoutAfterEffect=1)
    async with connect(sim.base_url) as client:
        with pytest.raises(snyk.AmbiguousError, match="switch_token"):
            await client.switch_token(org_id=ORG, integration_id=GITLAB)
    assert len(await calls_to(sim, "switch_token")) == 1


# Connection failures


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, counting the requests handed to it."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


class ServerStartingOnFirstBackoff:
    """A client ``sleep`` that brings the simulator up on ``port`` the first time the client backs off."""

    def __init__(self, stack: contextlib.AsyncExitStack, port: int) -> None:
        self.stack = stack
        self.port = port
        self.sim: RunningSimulator | None = None

    async def __call__(self, seconds: float) -> None:
        if self.sim is None:
            self.sim = await self.stack.enter_async_context(start_simulator(SEED, port=self.port, random_seed=5))
        await asyncio.sleep(seconds)


async def test_provision_refused_at_connect_is_retried_once_the_server_listens() -> None:
    port = free_port()
    transport = CountingTransport()
    async with contextlib.AsyncExitStack() as stack:
        late_server = ServerStartingOnFirstBackoff(stack, port)
        client = snyk.SnykClient(
            api_key=KEY,
            api_url=f"http://127.0.0.1:{port}/v1",
            limiter=snyk.LimiterRegistry().for_key(KEY),
            retry_policy=FAST_RETRIES,
            timeout=SHORT_TIMEOUT,
            transport=transport,
            sleep=late_server,
        )
        async with client:
            provisional = await client.provision_token(org_id=ORG, integration_id=GITLAB)
        assert late_server.sim is not None
        state = await sim_state(late_server.sim)
    assert transport.requests == 2  # the first attempt reached no server; the second did
    assert [call["endpoint"] for call in state["calls"]] == ["provision_token"]
    assert provisional_token_of(state) == provisional.token.get_secret_value()


async def test_nothing_listening_ever_raises_unavailable_not_ambiguous() -> None:
    async with connect(f"http://127.0.0.1:{free_port()}/v1") as client:
        with pytest.raises(snyk.UnavailableError, match="the connection could not be made"):
            await client.switch_token(org_id=ORG, integration_id=GITLAB)
