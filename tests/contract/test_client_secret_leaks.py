"""No API key and no broker token ever shows up in logs, reprs or exception text, on any client path.

Every logger runs at DEBUG (root included, so httpx's and httpcore's wire-level logs are captured too) while
the client walks through every call's success path and every failure the simulator can produce. Then every
token the simulator ever issued (from ``/_sim/state``) and every key used is searched for in the captured log
text and in ``repr``/``str`` of everything the client returned or raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.simulator import RunningSimulator, start_simulator

GROUP = "6c000000-0000-4000-8000-000000000001"
OTHER_GROUP = "6c000000-0000-4000-8000-000000000002"
ORG_A = "0c000000-0000-4000-8000-00000000000a"
ORG_B = "0c000000-0000-4000-8000-00000000000b"
ORG_C = "0c000000-0000-4000-8000-00000000000c"
ORG_FOREIGN = "0c000000-0000-4000-8000-00000000000f"
A_GITHUB = "1c000000-0000-4000-8000-0000000000a1"
A_GITLAB = "1c000000-0000-4000-8000-0000000000a2"
C_GITLAB = "1c000000-0000-4000-8000-0000000000c2"
MISSING = "00000000-dead-4000-8000-000000000000"

GROUP_KEY = SecretStr("5ec7e700-1eak-4e5t-9000-groupkey0001")
ORG_B_KEY = SecretStr("5ec7e700-1eak-4e5t-9000-orgbkey00002")
DOOMED_KEY = SecretStr("5ec7e700-1eak-4e5t-9000-doomedkey003")
STRANGER_KEY = SecretStr("5ec7e700-1eak-4e5t-9000-strangerkey4")
KEYS = [GROUP_KEY, ORG_B_KEY, DOOMED_KEY, STRANGER_KEY]

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
                        {"id": A_GITLAB, "type": "gitlab", "brokerEnabled": True},
                    ],
                },
                {"id": ORG_B, "name": "b", "integrations": []},
                {"id": ORG_C, "name": "c", "integrations": [{"id": C_GITLAB, "type": "gitlab", "brokerEnabled": True}]},
            ],
        },
        {"id": OTHER_GROUP, "name": "globex", "orgs": [{"id": ORG_FOREIGN, "name": "f", "integrations": []}]},
    ],
    "apiKeys": [
        {"key": GROUP_KEY.get_secret_value(), "group": GROUP},
        {"key": ORG_B_KEY.get_secret_value(), "orgs": [ORG_B]},
        {"key": DOOMED_KEY.get_secret_value(), "group": GROUP},
    ],
}

POLICY = snyk.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, rate_limit_delay=0.05, max_elapsed=5)


class Walk:
    """Runs client calls, keeping whatever each returned or raised."""

    def __init__(self) -> None:
        self.returned: list[object] = []
        self.raised: list[BaseException] = []

    async def expect_ok(self, call: Awaitable[object]) -> Any:
        result = await call
        self.returned.append(result)
        return result

    async def expect_error(self, kind: type[snyk.SnykError], call: Callable[[], Awaitable[object]]) -> None:
        with pytest.raises(kind) as raised:
            await call()
        self.raised.append(raised.value)


def connect(base_url: str, key: SecretStr, registry: snyk.LimiterRegistry) -> snyk.SnykClient:
    return snyk.SnykClient(
        api_key=key,
        api_url=base_url,
        limiter=registry.for_key(key),
        retry_policy=POLICY,
        timeout=httpx.Timeout(5.0, read=0.3),
    )


async def admin_post(sim: RunningSimulator, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as admin:
        (await admin.post(sim.admin_url + path, json=body)).raise_for_status()


async def walk_every_path(sim: RunningSimulator, walk: Walk) -> None:
    registry = snyk.LimiterRegistry()
    async with connect(sim.base_url, GROUP_KEY, registry) as client:
        walk.returned.append(client)
        # Successes
        await walk.expect_ok(client.check_credentials())
        await walk.expect_ok(client.list_integrations(org_id=ORG_A))
        await walk.expect_ok(client.get_integration_by_type(org_id=ORG_A, integration_type="github"))
        await walk.expect_ok(client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="github"))
        await walk.expect_ok(client.provision_token(org_id=ORG_A, integration_id=A_GITLAB))
        await walk.expect_ok(client.switch_token(org_id=ORG_A, integration_id=A_GITLAB))
        await walk.expect_ok(client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_B))
        await walk.expect_ok(client.provision_token(org_id=ORG_A, integration_id=A_GITLAB))
        # Snyk's refusals
        await walk.expect_error(snyk.NotFoundError, lambda: client.list_integrations(org_id=MISSING))
        await walk.expect_error(
            snyk.NotFoundError, lambda: client.provision_token(org_id=ORG_A, integration_id=MISSING)
        )
        await walk.expect_error(
            snyk.NotFoundError, lambda: client.get_integration_by_type(org_id=ORG_B, integration_type="github")
        )
        await walk.expect_error(
            snyk.ProvisionalTokenOutstandingError,
            lambda: client.provision_token(org_id=ORG_C, integration_id=C_GITLAB),
        )
        await walk.expect_error(
            snyk.NothingToSwitchError, lambda: client.switch_token(org_id=ORG_C, integration_id=C_GITLAB)
        )
        await walk.expect_error(
            snyk.IntegrationConflictError,
            lambda: client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_C),
        )
        await walk.expect_error(
            snyk.PermissionDeniedError,
            lambda: client.clone_integration(org_id=ORG_A, integration_id=A_GITLAB, destination_org_id=ORG_FOREIGN),
        )
        await walk.expect_error(
            snyk.BadRequestError,
            lambda: client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="gitlab"),
        )
        # Faults: rate limits, server errors, timeouts before and after the effect
        await admin_post(sim, "/faults", {"endpoint": "list_integrations", "rateLimitBurst": 1, "retryAfterSeconds": 0})
        await walk.expect_ok(client.list_integrations(org_id=ORG_A))
        await admin_post(sim, "/faults", {"endpoint": "update_integration", "rateLimitBurst": POLICY.max_attempts})
        await walk.expect_error(
            snyk.RateLimitedError,
            lambda: client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="github"),
        )
        await admin_post(sim, "/faults", {"endpoint": "update_integration", "errorRate": 1.0, "count": 1})
        await walk.expect_ok(client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="github"))
        await admin_post(
            sim, "/faults", {"endpoint": "provision_token", "errorRate": 1.0, "errorStatus": 500, "count": 1}
        )
        await walk.expect_error(
            snyk.AmbiguousError, lambda: client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
        )
        await admin_post(sim, "/faults", {"endpoint": "provision_token", "hang": True, "count": 1})
        await walk.expect_error(
            snyk.AmbiguousError, lambda: client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
        )
        await admin_post(sim, "/faults", {"endpoint": "switch_token", "timeoutAfterEffect": 1})
        await walk.expect_error(snyk.AmbiguousError, lambda: client.switch_token(org_id=ORG_A, integration_id=A_GITLAB))
        await admin_post(sim, "/faults", {"endpoint": "update_integration", "timeoutAfterEffect": 1})
        await walk.expect_ok(client.enable_broker(org_id=ORG_A, integration_id=A_GITHUB, integration_type="github"))
        await admin_post(sim, "/faults", {"endpoint": "provision_token", "timeoutAfterEffect": 1})
        await walk.expect_error(
            snyk.AmbiguousError, lambda: client.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
        )
    # Keys that are unknown, revoked or too narrow
    async with connect(sim.base_url, STRANGER_KEY, registry) as stranger:
        walk.returned.append(stranger)
        await walk.expect_error(snyk.AuthenticationError, stranger.check_credentials)
    async with connect(sim.base_url, ORG_B_KEY, registry) as narrow:
        await walk.expect_error(snyk.PermissionDeniedError, lambda: narrow.list_integrations(org_id=ORG_A))
    async with connect(sim.base_url, DOOMED_KEY, registry) as doomed:
        await admin_post(sim, "/keys", {"key": DOOMED_KEY.get_secret_value(), "revoked": True})
        await walk.expect_error(snyk.AuthenticationError, lambda: doomed.list_integrations(org_id=ORG_A))
    # Nothing listening at all
    async with connect("http://127.0.0.1:9/v1", GROUP_KEY, registry) as nowhere:
        await walk.expect_error(
            snyk.UnavailableError, lambda: nowhere.provision_token(org_id=ORG_A, integration_id=A_GITLAB)
        )


def everything_said_about(thing: object) -> str:
    """repr and str of an object, and for an exception also of its args and its whole cause/context chain."""
    texts = [repr(thing), str(thing)]
    if isinstance(thing, BaseException):
        texts += [repr(arg) for arg in thing.args]
        for linked in (thing.__cause__, thing.__context__):
            if linked is not None:
                texts.append(everything_said_about(linked))
    return "\n".join(texts)


async def test_no_key_or_token_leaks_on_any_path(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every library's DEBUG records are captured
    walk = Walk()
    async with start_simulator(SEED, random_seed=3) as sim:
        await walk_every_path(sim, walk)
        async with httpx.AsyncClient() as admin:
            state = (await admin.get(sim.admin_url + "/state")).json()

    tokens = {issued["token"] for issued in state["issuedTokens"]}
    for integration in state["integrations"]:
        tokens |= {integration["token"], integration["provisionalToken"]} - {None}
    secrets = tokens | {key.get_secret_value() for key in KEYS}
    assert len(tokens) >= 5  # seeded, enabled, provisioned twice, provisioned after the effect
    assert len(walk.raised) >= 15

    # The capture is not vacuous: the wire-level libraries did log at DEBUG.
    loggers = {record.name for record in caplog.records}
    assert {"httpx", "snyk_broker_operator.adapters.snyk.client"} <= loggers
    assert any(name.startswith("httpcore") for name in loggers)

    log_text = caplog.text + "\n".join(repr(record.args) for record in caplog.records)
    said = "\n".join(everything_said_about(thing) for thing in walk.returned + walk.raised)
    for secret in secrets:
        assert secret not in log_text
        assert secret not in said
