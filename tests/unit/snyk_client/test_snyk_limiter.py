"""Token-bucket arithmetic and the per-key limiter, driven by a fake monotonic clock (no real waiting)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters.snyk import limiter
from support.fake_time import FakeTime


def conforms_to_server_bucket(times: list[float], *, capacity: float, per_second: float) -> bool:
    """Would a server-side token bucket (full at the first request) accept every request at these times?"""
    level, last = capacity, times[0]
    for at in times:
        level = min(capacity, level + (at - last) * per_second)
        last = at
        if level < 1.0 - 1e-6:
            return False
        level -= 1.0
    return True


def most_in_any_window(times: list[float], *, seconds: float) -> int:
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


async def send_times(limits: limiter.RequestLimiter, fake: FakeTime, count: int) -> list[float]:
    times = []
    for _ in range(count):
        async with limits.acquire():
            times.append(fake.clock())
    return times


def test_bucket_starts_full_and_refills_at_its_rate() -> None:
    bucket = limiter.TokenBucket(capacity=3, refill_per_second=2.0, now=0.0)
    for _ in range(3):
        assert bucket.wait_time(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(0.5)
    assert bucket.level(0.25) == pytest.approx(0.5)
    assert bucket.level(100.0) == 3  # never above capacity
    with pytest.raises(RuntimeError):
        empty = limiter.TokenBucket(capacity=1, refill_per_second=1.0, now=0.0)
        empty.take(0.0)
        empty.take(0.0)


def test_bucket_ignores_a_clock_stepping_backwards() -> None:
    bucket = limiter.TokenBucket(capacity=2, refill_per_second=1.0, now=10.0)
    bucket.take(10.0)
    bucket.take(10.0)
    assert bucket.level(5.0) == 0.0
    assert bucket.level(10.5) == pytest.approx(0.5)


def test_bucket_reconfigure_keeps_earned_tokens_up_to_the_new_capacity() -> None:
    bucket = limiter.TokenBucket(capacity=10, refill_per_second=1.0, now=0.0)
    bucket.reconfigure(capacity=4, refill_per_second=0.5, now=0.0)
    assert bucket.level(0.0) == 4
    bucket.take(0.0)
    assert bucket.wait_time(0.0) == 0.0
    assert bucket.level(2.0) == 4


async def test_limiter_lets_a_burst_through_then_paces_at_the_budget() -> None:
    fake = FakeTime()
    limits = limiter.RequestLimiter(requests_per_minute=600, burst=5, clock=fake.clock, sleep=fake.sleep)
    times = await send_times(limits, fake, 25)
    start = times[0]
    assert times[:5] == [start] * 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[4:])]
    assert gaps == pytest.approx([0.1] * len(gaps))  # 600/min = one every 0.1 s, from the end of the burst


@pytest.mark.parametrize("burst", [None, 1, 990], ids=["default burst", "no burst", "burst near budget"])
async def test_limiter_output_is_accepted_by_a_server_bucket_of_the_same_budget(burst: int | None) -> None:
    fake = FakeTime()
    budget = 1000
    limits = limiter.RequestLimiter(requests_per_minute=budget, burst=burst, clock=fake.clock, sleep=fake.sleep)
    times = await send_times(limits, fake, 3 * budget)
    assert conforms_to_server_bucket(times, capacity=budget, per_second=budget / 60)
    assert most_in_any_window(times, seconds=60.0) <= limits.burst + budget


async def test_twice_the_budget_is_refused_by_the_server_bucket() -> None:
    # The negative control of the test above: the check can fail.
    fake = FakeTime()
    limits = limiter.RequestLimiter(requests_per_minute=2000, burst=1000, clock=fake.clock, sleep=fake.sleep)
    times = await send_times(limits, fake, 3000)
    assert not conforms_to_server_bucket(times, capacity=1000, per_second=1000 / 60)


async def test_default_budget_stays_under_snyks_2000_in_any_minute() -> None:
    fake = FakeTime()
    limits = limiter.RequestLimiter(clock=fake.clock, sleep=fake.sleep)
    times = await send_times(limits, fake, 5000)
    assert limits.requests_per_minute == 1200
    assert most_in_any_window(times, seconds=60.0) <= 1800 < 2000


async def test_concurrency_cap_holds_requests_until_a_slot_frees() -> None:
    limits = limiter.RequestLimiter(requests_per_minute=60_000, max_concurrency=3)
    release = asyncio.Event()
    peak = 0

    async def request() -> None:
        nonlocal peak
        async with limits.acquire():
            peak = max(peak, limits.in_flight)
            await release.wait()

    tasks = [asyncio.create_task(request()) for _ in range(10)]
    await asyncio.sleep(0.05)
    assert limits.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert limits.in_flight == 0


async def test_raising_the_concurrency_cap_admits_more_waiters() -> None:
    limits = limiter.RequestLimiter(requests_per_minute=60_000, max_concurrency=1)
    gate = asyncio.Event()

    async def request() -> None:
        async with limits.acquire():
            await gate.wait()

    tasks = [asyncio.create_task(request()) for _ in range(4)]
    await asyncio.sleep(0.02)
    assert limits.in_flight == 1
    limits.reconfigure(requests_per_minute=60_000, max_concurrency=3)
    gate.set()
    await asyncio.gather(*tasks)
    assert limits.max_concurrency == 3


async def test_defer_holds_every_request_of_the_key() -> None:
    fake = FakeTime()
    limits = limiter.RequestLimiter(requests_per_minute=6000, clock=fake.clock, sleep=fake.sleep)
    limits.defer(7.5)
    before = fake.now
    async with limits.acquire():
        assert fake.now - before == pytest.approx(7.5)


def test_limiter_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        limiter.RequestLimiter(requests_per_minute=0)
    with pytest.raises(ValueError, match="max_concurrency"):
        limiter.RequestLimiter(max_concurrency=0)
    with pytest.raises(ValueError, match="burst"):
        limiter.RequestLimiter(requests_per_minute=10, burst=11)


def test_registry_hands_out_one_limiter_per_key_without_holding_the_key() -> None:
    registry = limiter.LimiterRegistry()
    key = SecretStr("5e1f0a52-aaaa-4bbb-8ccc-000000000001")
    first = registry.for_key(key, requests_per_minute=100)
    again = registry.for_key(SecretStr(key.get_secret_value()), requests_per_minute=100)
    other = registry.for_key(SecretStr("5e1f0a52-aaaa-4bbb-8ccc-000000000002"), requests_per_minute=100)
    assert first is again
    assert other is not first
    assert len(registry) == 2
    assert key.get_secret_value() not in repr(registry)
    assert key.get_secret_value() not in repr(vars(registry))


def test_registry_applies_the_latest_settings_to_the_shared_limiter() -> None:
    registry = limiter.LimiterRegistry()
    key = SecretStr("k")
    shared = registry.for_key(key, requests_per_minute=100, max_concurrency=2)
    assert registry.for_key(key, requests_per_minute=50, max_concurrency=4) is shared
    assert (shared.requests_per_minute, shared.max_concurrency, shared.burst) == (50, 4, 25)
