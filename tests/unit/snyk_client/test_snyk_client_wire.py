"""SnykClient details the simulator cannot produce, over ``httpx.MockTransport``: exact request headers and
paths, malformed 2xx bodies, HTTP-date ``Retry-After``, read errors, and the retry-time cap.

Everything observable against the real simulator is tested in tests/contract/ instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

import snyk_broker_operator
from snyk_broker_operator.adapters import snyk
from support.fake_time import FakeTime

KEY = SecretStr("5ec12e70-0000-4000-8000-00000000beef")
TOKEN = "70ce2e70-1111-4111-8111-111111111111"
ORG = "0a0a0a0a-0000-4000-8000-000000000001"
INTEGRATION = "01010101-0000-4000-8000-000000000003"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, fake: FakeTime, **options: object) -> snyk.SnykClient:
    registry = snyk.LimiterRegistry(clock=fake.clock, sleep=fake.sleep)
    return snyk.SnykClient(
        api_key=KEY,
        api_url="https://snyk.test/v1",
        limiter=registry.for_key(KEY),
        transport=httpx.MockTransport(handler),
        random=lambda: 0.5,
        sleep=fake.sleep,
        clock=fake.clock,
        now=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )


def json_response(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


async def test_requests_carry_auth_user_agent_and_json_content_type_only_with_a_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PUT":
            return json_response(200, {"id": INTEGRATION, "brokerToken": TOKEN})
        return json_response(200, {"id": INTEGRATION, "provisionalBrokerToken": TOKEN})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        await client.enable_broker(org_id=ORG, integration_id=INTEGRATION, integration_type="github")
        await client.provision_token(org_id=ORG, integration_id=INTEGRATION)
    put, post = seen
    for request in seen:
        assert request.headers["Authorization"] == f"token {KEY.get_secret_value()}"
        assert request.headers["User-Agent"] == f"snyk-broker-operator/{snyk_broker_operator.__version__}"
    assert put.url.path == f"/v1/org/{ORG}/integrations/{INTEGRATION}"
    assert put.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(put.content) == {"type": "github", "broker": {"enabled": True}}
    assert post.url.path == f"/v1/org/{ORG}/integrations/{INTEGRATION}/authentication/provision-token"
    assert "Content-Type" not in post.headers
    assert post.content == b""


async def test_list_orgs_reads_each_org_and_a_personal_org_without_a_group() -> None:
    seen: list[httpx.Request] = []
    group = {"id": "9a9a9a9a-0000-4000-8000-000000000009", "name": "acme"}
    orgs = [
        {"id": ORG, "name": "platform", "slug": "platform", "url": "https://snyk.test/org/platform", "group": group},
        {"id": INTEGRATION, "name": "mine", "slug": "mine", "url": "https://snyk.test/org/mine", "group": None},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, {"orgs": orgs})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        listed = await client.list_orgs()

    assert [request.url.path for request in seen] == ["/v1/orgs"]
    assert listed == (
        snyk.Org(id=ORG, name="platform", slug="platform", group_id=group["id"], group_name="acme"),
        snyk.Org(id=INTEGRATION, name="mine", slug="mine"),
    )


async def test_an_unreadable_org_list_is_an_unexpected_response() -> None:
    async with make_client(lambda _: json_response(200, {"orgs": "nope"}), FakeTime(start=100.0)) as client:
        with pytest.raises(snyk.UnexpectedResponseError, match="the org list could not be read"):
            await client.list_orgs()


async def test_clone_sends_destination_org() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, {"newIntegrationId": "new-id"})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        new_id = await client.clone_integration(org_id=ORG, integration_id=INTEGRATION, destination_org_id="dest")
    assert new_id == "new-id"
    assert json.loads(seen[0].content) == {"destinationOrgPublicId": "dest"}
    assert seen[0].url.path.endswith("/clone")


async def test_identifiers_cannot_change_the_route() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return json_response(200, {})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        await client.list_integrations(org_id="../../user/me")
    assert paths == ["/v1/org/..%2F..%2Fuser%2Fme/integrations"]


@pytest.mark.parametrize(
    "body",
    [{"id": INTEGRATION}, {"brokerToken": TOKEN}, {"id": INTEGRATION, "brokerToken": 7}, "not json"],
    ids=["token missing", "id missing", "token not a string", "not json"],
)
async def test_unreadable_token_response_never_quotes_the_body(body: object) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    fake = FakeTime(start=100.0)
    async with make_client(lambda _: httpx.Response(200, content=content), fake) as client:
        with pytest.raises(snyk.UnexpectedResponseError) as raised:
            await client.enable_broker(org_id=ORG, integration_id=INTEGRATION, integration_type="github")
    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(raised.value)
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert fake.sleeps == []


async def test_unreadable_provision_response_is_ambiguous_and_not_repeated() -> None:
    calls = 0

    def handler(_: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return json_response(200, {"provisional": TOKEN})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        with pytest.raises(snyk.AmbiguousError) as raised:
            await client.provision_token(org_id=ORG, integration_id=INTEGRATION)
    assert calls == 1
    assert TOKEN not in str(raised.value)


async def test_retry_after_http_date_is_honoured() -> None:
    answers = iter(
        [
            json_response(
                429,
                {"message": "slow down"},
                **{"Retry-After": format_datetime(NOW + timedelta(seconds=9), usegmt=True)},
            ),
            json_response(200, {"id": INTEGRATION}),
        ]
    )
    fake = FakeTime(start=100.0)
    async with make_client(lambda _: next(answers), fake) as client:
        found = await client.get_integration_by_type(org_id=ORG, integration_type="github")
    assert found == INTEGRATION
    assert sum(fake.sleeps) == pytest.approx(9.0)


async def test_rate_limit_pauses_every_client_of_the_key() -> None:
    answers = iter([json_response(429, {}), json_response(200, {})])
    fake = FakeTime(start=100.0)
    registry = snyk.LimiterRegistry(clock=fake.clock, sleep=fake.sleep)
    shared = registry.for_key(KEY)
    first = snyk.SnykClient(
        api_key=KEY,
        api_url="https://snyk.test/v1",
        limiter=shared,
        transport=httpx.MockTransport(lambda _: next(answers)),
        retry_policy=snyk.NO_RETRIES,
        random=lambda: 0.0,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    second = snyk.SnykClient(
        api_key=KEY,
        api_url="https://snyk.test/v1",
        limiter=registry.for_key(KEY),
        transport=httpx.MockTransport(lambda _: json_response(200, {})),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    async with first, second:
        with pytest.raises(snyk.RateLimitedError) as raised:
            await first.list_integrations(org_id=ORG)
        assert raised.value.retry_after is None
        before = fake.now
        await second.list_integrations(org_id=ORG)
    assert fake.now - before == pytest.approx(5.0)  # the default wait, with jitter drawn as 0


async def test_server_error_on_provision_is_ambiguous_and_never_repeated() -> None:
    calls = 0

    def handler(_: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return json_response(502, {"message": "bad gateway"})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        with pytest.raises(snyk.AmbiguousError):
            await client.provision_token(org_id=ORG, integration_id=INTEGRATION)
    assert calls == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadTimeout],
    ids=lambda kind: kind.__name__,
)
async def test_failure_after_sending_is_retried_for_get_but_ambiguous_for_switch(
    failure: type[httpx.TransportError],
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise failure("boom", request=request)
        return json_response(200, {"github": INTEGRATION})

    async with make_client(handler, FakeTime(start=100.0)) as client:
        assert await client.list_integrations(org_id=ORG) == {"github": INTEGRATION}
        assert calls == 2
        calls = 0
        with pytest.raises(snyk.AmbiguousError, match="switch_token"):
            await client.switch_token(org_id=ORG, integration_id=INTEGRATION)
    assert calls == 1


async def test_retries_stop_at_max_attempts_with_the_last_error() -> None:
    calls = 0

    def handler(_: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return json_response(503, {"message": f"down {calls}"})

    fake = FakeTime(start=100.0)
    async with make_client(handler, fake, retry_policy=snyk.RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(snyk.UnavailableError, match="down 3"):
            await client.list_integrations(org_id=ORG)
    assert calls == 3
    assert fake.sleeps == [0.25, 0.5]  # full jitter drawn as 0.5 of 0.5 s, then of 1 s


async def test_retries_stop_when_the_time_budget_would_be_exceeded() -> None:
    calls = 0

    def handler(_: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return json_response(429, {}, **{"Retry-After": "30"})

    fake = FakeTime(start=100.0)
    async with make_client(handler, fake, retry_policy=snyk.RetryPolicy(max_attempts=10, max_elapsed=20)) as client:
        with pytest.raises(snyk.RateLimitedError) as raised:
            await client.list_integrations(org_id=ORG)
    assert calls == 1
    assert raised.value.retry_after == 30.0
    assert fake.sleeps == []


def test_base_url_comes_from_region_or_explicit_url() -> None:
    registry = snyk.LimiterRegistry()
    limiter = registry.for_key(KEY)
    assert snyk.SnykClient(api_key=KEY, limiter=limiter).base_url == "https://api.snyk.io/v1"
    assert snyk.SnykClient(api_key=KEY, limiter=limiter, region="SNYK-EU-01").base_url == "https://api.eu.snyk.io/v1"
    assert snyk.SnykClient(api_key=KEY, limiter=limiter, region=snyk.SnykRegion.AU_01).base_url == (
        "https://api.au.snyk.io/v1"
    )
    assert snyk.SnykClient(api_key=KEY, limiter=limiter, region="SNYK-US-02").base_url == "https://api.us.snyk.io/v1"
    assert snyk.SnykClient(api_key=KEY, limiter=limiter, api_url="http://127.0.0.1:9/v1/").base_url == (
        "http://127.0.0.1:9/v1"
    )
    with pytest.raises(ValueError):
        snyk.SnykClient(api_key=KEY, limiter=limiter, region="SNYK-MARS-01")
    with pytest.raises(ValueError):
        snyk.SnykClient(api_key=KEY, limiter=limiter, region="SNYK-US-01", api_url="https://x/v1")
    with pytest.raises(ValueError):
        snyk.SnykClient(api_key=KEY, limiter=limiter, api_url="ftp://x/v1")
    with pytest.raises(TypeError):
        snyk.SnykClient(api_key=KEY.get_secret_value(), limiter=limiter)  # type: ignore[arg-type]
