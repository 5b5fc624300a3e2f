"""Fault injection and the per-key rate limit, over real HTTP on 127.0.0.1.

Covers latency, injected error statuses (deterministic under a random seed), 429 bursts with and without
Retry-After, the token bucket, a hang the client must time out on, and a timeout after the effect (the
ambiguous failure: the client saw nothing, yet /_sim/state shows the token was issued).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from snyk_broker_operator.simulator import shipped_seed_path, start_simulator

GROUP_KEY = "example-key-with-group-access"
OTHER_KEY = "example-key-for-payments"
PLATFORM = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a1"
PAYMENTS = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a2"
GITHUB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a1"
GITLAB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a2"
ENABLE_GITHUB = {"type": "github", "broker": {"enabled": True}}
SHORT_TIMEOUT = httpx.Timeout(5.0, read=0.3)


RANDOM_SEED = 3  # the simulator fixture (conftest.py) uses it


async def _add_fault(admin: httpx.AsyncClient, **spec: Any) -> dict[str, Any]:
    response = await admin.post("/faults", json=spec)
    assert response.status_code == 200, response.text
    rule: dict[str, Any] = response.json()
    return rule


async def _state(admin: httpx.AsyncClient) -> dict[str, Any]:
    state: dict[str, Any] = (await admin.get("/state")).json()
    return state


async def test_latency_delays_the_response(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await _add_fault(admin, endpoint="user_me", latencySeconds=0.3, count=1)

    started = time.monotonic()
    response = await api.get("/user/me")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_latency_beyond_the_client_timeout_is_a_read_timeout_then_it_recovers(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await _add_fault(admin, endpoint="user_me", latencySeconds=1.0, count=1)

    with pytest.raises(httpx.ReadTimeout):
        await api.get("/user/me", timeout=SHORT_TIMEOUT)

    assert (await api.get("/user/me")).status_code == 200


async def test_an_injected_error_has_the_v1_body_and_no_effect(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await _add_fault(admin, endpoint="update_integration", errorRate=1.0, errorStatus=502, count=1)

    failed = await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)

    assert failed.status_code == 502
    assert failed.json()["code"] == 502
    assert "x-error-reference" in failed.headers
    assert "retry-after" not in failed.headers
    assert [entry for entry in (await _state(admin))["issuedTokens"] if entry["origin"] == "api"] == []
    assert (await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)).status_code == 200


async def test_a_fault_for_one_endpoint_does_not_touch_the_others(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await _add_fault(admin, endpoint="provision_token", errorRate=1.0)

    assert (await api.get("/user/me")).status_code == 200
    assert (await api.post(f"/org/{PLATFORM}/integrations/{GITLAB}/authentication/provision-token")).status_code == 503


async def test_deleting_faults_clears_them(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await _add_fault(admin, errorRate=1.0)
    assert (await api.get("/user/me")).status_code == 503

    cleared = await admin.delete("/faults")

    assert cleared.json() == {"cleared": 1}
    assert (await admin.get("/faults")).json() == {"faults": []}
    assert (await api.get("/user/me")).status_code == 200


async def test_error_rate_is_deterministic_under_the_random_seed() -> None:
    async def statuses() -> list[int]:
        async with (
            start_simulator(shipped_seed_path(), random_seed=42) as running,
            httpx.AsyncClient() as client,
        ):
            await client.post(running.admin_url + "/faults", json={"errorRate": 0.5, "errorStatus": 500})
            headers = {"Authorization": f"token {GROUP_KEY}"}
            return [(await client.get(running.base_url + "/user/me", headers=headers)).status_code for _ in range(20)]

    first = await statuses()

    assert first == await statuses()
    assert set(first) == {200, 500}


async def test_a_rate_limit_burst_with_retry_after(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await _add_fault(admin, endpoint="*", rateLimitBurst=2, retryAfterSeconds=2)

    responses = [await api.get("/user/me") for _ in range(3)]

    assert [response.status_code for response in responses] == [429, 429, 200]
    assert [response.headers.get("retry-after") for response in responses[:2]] == ["2", "2"]
    assert responses[0].json()["code"] == 429
    assert (await admin.get("/faults")).json() == {"faults": []}


async def test_a_rate_limit_burst_without_retry_after(api: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    await _add_fault(admin, endpoint="user_me", rateLimitBurst=1, retryAfterSeconds=None)

    limited = await api.get("/user/me")

    assert limited.status_code == 429
    assert "retry-after" not in limited.headers


async def test_a_hang_holds_the_request_until_the_client_gives_up_and_has_no_effect(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await _add_fault(admin, endpoint="update_integration", hang=True, count=1)

    with pytest.raises(httpx.ReadTimeout):
        await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB, timeout=SHORT_TIMEOUT)

    state = await _state(admin)
    github = next(entry for entry in state["integrations"] if entry["id"] == GITHUB)
    assert github["token"] is None
    assert state["calls"][-1]["status"] is None
    assert state["calls"][-1]["fault"] == "hang"


async def test_a_timeout_after_effect_issues_the_token_although_the_client_saw_nothing(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await _add_fault(admin, endpoint="update_integration", timeoutAfterEffect=1)

    with pytest.raises(httpx.ReadTimeout):
        await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB, timeout=SHORT_TIMEOUT)

    state = await _state(admin)
    github = next(entry for entry in state["integrations"] if entry["id"] == GITHUB)
    assert github["token"] is not None
    assert [entry["token"] for entry in state["issuedTokens"] if entry["origin"] == "api"] == [github["token"]]
    assert state["calls"][-1]["fault"] == "timeout_after_effect"
    # The rule is spent: retrying the idempotent enable now returns the token that was issued.
    retried = await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}", json=ENABLE_GITHUB)
    assert retried.json()["brokerToken"] == github["token"]


async def test_a_bad_fault_rule_is_refused_with_400(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/faults", json={"endpoint": "provision", "hang": True})

    assert response.status_code == 400
    assert "unknown endpoint" in response.json()["message"]


async def test_the_per_key_rate_limit_answers_429_once_the_bucket_is_spent() -> None:
    async with (
        start_simulator(shipped_seed_path(), rate_limit=5) as running,
        httpx.AsyncClient(base_url=running.base_url) as client,
        httpx.AsyncClient(base_url=running.admin_url) as admin,
    ):
        group_key = {"Authorization": f"token {GROUP_KEY}"}
        statuses = [(await client.get("/user/me", headers=group_key)).status_code for _ in range(5)]
        limited = await client.get("/user/me", headers=group_key)
        other_key = await client.get("/user/me", headers={"Authorization": f"token {OTHER_KEY}"})
        unauthenticated = await client.get("/user/me")
        calls = (await _state(admin))["calls"]

    assert statuses == [200] * 5
    assert limited.status_code == 429
    assert limited.json() == {"code": 429, "message": "Too many requests", "error": "Too many requests"}
    assert "retry-after" not in limited.headers  # Snyk documents no Retry-After header for v1
    assert other_key.status_code == 200  # the limit is per key
    assert unauthenticated.status_code == 401
    assert [call["status"] for call in calls] == [200] * 5 + [429, 200, 401]


async def test_a_retry_after_rule_adds_the_header_to_real_rate_limit_responses() -> None:
    async with (
        start_simulator(shipped_seed_path(), rate_limit=1) as running,
        httpx.AsyncClient(base_url=running.base_url, headers={"Authorization": f"token {GROUP_KEY}"}) as api,
        httpx.AsyncClient(base_url=running.admin_url) as admin,
    ):
        await _add_fault(admin, retryAfterSeconds=7)
        await api.get("/user/me")
        limited = await api.get("/user/me")

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
