"""The Snyk client's traffic as metrics: the client reports through its observer port (adapters/snyk/observer.py)
and `Metrics.snyk` counts it. Driven over ``httpx.MockTransport`` and a fake clock, as the client's own unit tests
are: answers by class, 429s, no answer at all, retries, request latency and waits on the request budget."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.metrics import Metrics, status_class
from support.fake_time import FakeTime

KEY = SecretStr("5ec12e70-0000-4000-8000-00000000beef")
ORG = "0a0a0a0a-0000-4000-8000-000000000001"
INTEGRATION = "01010101-0000-4000-8000-000000000003"
TOKEN = "70ce2e70-1111-4111-8111-111111111111"
PREFIX = "snyk_broker_operator"

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(
    handler: Handler, fake: FakeTime, observer: snyk.SnykObserver, limiter: snyk.RequestLimiter | None = None
) -> snyk.SnykClient:
    return snyk.SnykClient(
        api_key=KEY,
        api_url="https://snyk.test/v1",
        limiter=limiter or snyk.LimiterRegistry(clock=fake.clock, sleep=fake.sleep).for_key(KEY),
        transport=httpx.MockTransport(handler),
        random=lambda: 0.5,
        sleep=fake.sleep,
        clock=fake.clock,
        observer=observer,
    )


def value(metrics: Metrics, series: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"{PREFIX}_{series}", labels)


def answers(*responses: httpx.Response | Exception, fake: FakeTime, latency: float = 0.0) -> Handler:
    """A handler giving these answers in turn (an exception is raised: no answer), each after `latency` seconds."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        fake.now += latency
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (200, "2xx"),
        (204, "2xx"),
        (302, "3xx"),
        (404, "4xx"),
        (429, "4xx"),
        (503, "5xx"),
        (None, "error"),
        (99, "error"),
    ],
)
def test_status_classes(code: int | None, expected: str) -> None:
    assert status_class(code) == expected


async def test_each_request_is_counted_by_call_and_answer_and_timed() -> None:
    fake, metrics = FakeTime(start=100.0), Metrics()
    ok = httpx.Response(200, json={"id": INTEGRATION})
    handler = answers(ok, httpx.Response(404, json={"message": "no"}), fake=fake, latency=0.25)
    async with make_client(handler, fake, metrics.snyk) as client:
        assert await client.get_integration_by_type(org_id=ORG, integration_type="github") == INTEGRATION
        with pytest.raises(snyk.NotFoundError):
            await client.get_integration_by_type(org_id=ORG, integration_type="github")
    call = "get_integration_by_type"
    assert value(metrics, "snyk_requests_total", call=call, status_class="2xx") == 1.0
    assert value(metrics, "snyk_requests_total", call=call, status_class="4xx") == 1.0
    assert value(metrics, "snyk_request_duration_seconds_count", call=call) == 2.0
    assert value(metrics, "snyk_request_duration_seconds_sum", call=call) == 0.5
    assert value(metrics, "snyk_retries_total", call=call) is None, "a 404 is not retried"
    assert value(metrics, "snyk_rate_limited_total", call=call) is None


async def test_a_429_is_rate_limited_and_4xx_and_the_retry_is_counted() -> None:
    fake, metrics = FakeTime(start=100.0), Metrics()
    limited = httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "2"})
    issued = httpx.Response(200, json={"id": INTEGRATION, "provisionalBrokerToken": TOKEN})
    async with make_client(answers(limited, issued, fake=fake), fake, metrics.snyk) as client:
        await client.provision_token(org_id=ORG, integration_id=INTEGRATION)
    call = "provision_token"
    assert value(metrics, "snyk_rate_limited_total", call=call) == 1.0
    assert value(metrics, "snyk_requests_total", call=call, status_class="4xx") == 1.0
    assert value(metrics, "snyk_requests_total", call=call, status_class="2xx") == 1.0
    assert value(metrics, "snyk_retries_total", call=call) == 1.0


async def test_5xx_and_no_answer_are_counted_and_each_retry_too() -> None:
    fake, metrics = FakeTime(start=100.0), Metrics()
    handler = answers(
        httpx.Response(503, json={"message": "down"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"id": "1", "username": "bot", "orgs": []}),
        fake=fake,
    )
    async with make_client(handler, fake, metrics.snyk) as client:
        await client.check_credentials()
    call = "check_credentials"
    assert value(metrics, "snyk_requests_total", call=call, status_class="5xx") == 1.0
    assert value(metrics, "snyk_requests_total", call=call, status_class="error") == 2.0
    assert value(metrics, "snyk_requests_total", call=call, status_class="2xx") == 1.0
    assert value(metrics, "snyk_retries_total", call=call) == 3.0


async def test_a_call_that_gives_up_counts_no_retry_for_its_last_attempt() -> None:
    fake, metrics = FakeTime(start=100.0), Metrics()
    down = [httpx.Response(503, json={"message": "down"}) for _ in range(4)]
    async with make_client(answers(*down, fake=fake), fake, metrics.snyk) as client:
        with pytest.raises(snyk.UnavailableError):
            await client.list_orgs()
    assert value(metrics, "snyk_requests_total", call="list_orgs", status_class="5xx") == 4.0
    assert value(metrics, "snyk_retries_total", call="list_orgs") == 3.0


async def test_time_spent_waiting_on_the_request_budget_is_counted() -> None:
    fake, metrics = FakeTime(start=100.0), Metrics()
    # One request a second, no burst: the second request waits one second for its turn, the third one more.
    limiter = snyk.RequestLimiter(requests_per_minute=60, burst=1, clock=fake.clock, sleep=fake.sleep)
    ok = [httpx.Response(200, json={"orgs": []}) for _ in range(3)]
    async with make_client(answers(*ok, fake=fake), fake, metrics.snyk, limiter=limiter) as client:
        for _ in range(3):
            await client.list_orgs()
    assert value(metrics, "snyk_rate_limiter_wait_seconds_total") == pytest.approx(2.0)


async def test_a_client_without_an_observer_reports_to_nobody() -> None:
    fake = FakeTime(start=100.0)
    async with make_client(answers(httpx.Response(200, json={"orgs": []}), fake=fake), fake, snyk.NO_OBSERVER) as c:
        assert await c.list_orgs() == ()
