"""`kicks`: which loop a watch event wakes, and `wait_for_kick`, which ends on a kick, a stop or its timeout."""

from __future__ import annotations

import asyncio

from snyk_broker_operator.engine.kicks import Key, Kicks, wait_for_kick

BROKER = "BrokerToken"
A: Key = (BROKER, "ns", "a")
B: Key = (BROKER, "ns", "b")
ELSEWHERE: Key = (BROKER, "other", "c")
CONNECTION: Key = ("SnykConnection", "ns", "snyk")


def kicked(kicks: Kicks, *keys: Key) -> set[Key]:
    """Which of `keys` are kicked now; their kicks are cleared, so that each check starts afresh."""
    found = set()
    for key in keys:
        event = kicks.register(key)
        if event.is_set():
            found.add(key)
            event.clear()
    return found


def test_a_workload_reading_a_secret_kicks_the_loops_whose_consumers_read_it_in_that_namespace() -> None:
    kicks = Kicks()
    for key in (A, B, ELSEWHERE):
        kicks.register(key)
    kicks.watch_secret(A, "token")
    kicks.watch_secret(ELSEWHERE, "token")

    kicks.kick_readers("ns", {"token", "unrelated"})

    assert kicked(kicks, A, B, ELSEWHERE) == {A}


def test_a_loop_that_reads_another_secret_now_is_no_longer_kicked_for_the_old_one() -> None:
    kicks = Kicks()
    kicks.register(A)
    kicks.watch_secret(A, "old")
    kicks.watch_secret(A, "new")
    kicks.watch_secret(A, "new")  # the same again changes nothing

    kicks.kick_readers("ns", {"old"})
    assert kicked(kicks, A) == set()
    kicks.kick_readers("ns", {"new"})
    assert kicked(kicks, A) == {A}


def test_an_unregistered_loop_is_forgotten_and_kicking_it_does_nothing() -> None:
    kicks = Kicks()
    old = kicks.register(A)
    kicks.watch_secret(A, "token")
    kicks.kick_if_changed(A, "signature")
    old.clear()

    kicks.unregister(A)
    kicks.kick(A)
    kicks.kick_readers("ns", {"token"})

    assert not old.is_set()
    fresh = kicks.register(A)
    assert fresh is not old and not fresh.is_set()
    kicks.kick_if_changed(A, "signature")  # its signature was forgotten too: the same one kicks again
    assert fresh.is_set()


def test_a_change_kicks_only_when_what_the_loop_reacts_to_changed() -> None:
    kicks = Kicks()
    kicks.register(A)

    kicks.kick_if_changed(A, ("generation", 1))
    assert kicked(kicks, A) == {A}
    kicks.kick_if_changed(A, ("generation", 1))  # the loop's own status write: the same signature
    assert kicked(kicks, A) == set()
    kicks.kick_if_changed(A, ("generation", 2))
    assert kicked(kicks, A) == {A}


def test_kicking_a_kind_wakes_its_loops_in_one_namespace_or_in_all() -> None:
    kicks = Kicks()
    for key in (A, B, ELSEWHERE, CONNECTION):
        kicks.register(key)

    kicks.kick_kind(BROKER, namespace="ns")
    assert kicked(kicks, A, B, ELSEWHERE, CONNECTION) == {A, B}
    kicks.kick_kind(BROKER, namespace=None)
    assert kicked(kicks, A, B, ELSEWHERE, CONNECTION) == {A, B, ELSEWHERE}


def test_a_kick_for_a_loop_not_running_is_dropped() -> None:
    kicks = Kicks()
    kicks.kick(A)
    kicks.kick_readers("ns", {"token"})
    assert kicked(kicks, A) == set()


async def test_a_kick_ends_the_wait_and_is_cleared_for_the_next_round() -> None:
    kick = asyncio.Event()
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    kick.set()

    # An hour: if the kick did not end the wait, the unit tier's 2 s limit would.
    await wait_for_kick(kick, stop, seconds=3600)

    assert not kick.is_set()


async def test_a_stop_ends_the_wait() -> None:
    kick = asyncio.Event()
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stop.set_result(None)

    await wait_for_kick(kick, stop, seconds=3600)

    assert not kick.is_set()


async def test_a_kick_arriving_during_the_wait_ends_it() -> None:
    kick = asyncio.Event()
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(wait_for_kick(kick, stop, seconds=3600))
    await asyncio.sleep(0)  # let the wait start
    assert not waiting.done()

    kick.set()
    await waiting

    assert not kick.is_set()


async def test_with_no_kick_and_no_stop_the_wait_ends_at_its_timeout() -> None:
    kick = asyncio.Event()
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    await wait_for_kick(kick, stop, seconds=0)  # zero: the timeout path, without a real sleep

    assert not stop.done() and not kick.is_set()
