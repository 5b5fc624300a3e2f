"""The BrokerToken loop (handlers.broker_token_loop, on the engine's port fakes) feeds the per-token metrics: each
pass's status is recorded, and when the loop ends (the object deleted, or this replica stops) its series go."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import kopf

from snyk_broker_operator import handlers
from snyk_broker_operator.engine.kicks import Kicks
from snyk_broker_operator.metrics import Metrics
from support.fakes import NAME, NAMESPACE, World


class Stopped:
    """Stands in for Kopf's DaemonStopped: false until `stop`, and awaitable."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    def stop(self) -> None:
        self._event.set()


def value(metrics: Metrics, series: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"snyk_broker_operator_{series}", labels)


async def test_the_loop_records_every_pass_and_its_end_drops_the_tokens_series() -> None:
    world = World.create()
    world.add_broker_token()
    metrics = Metrics(clock=world.now)
    runtime = handlers.Runtime(deps=world.deps(), kicks=Kicks(), metrics=metrics)
    stopped = Stopped()
    token = {"namespace": NAMESPACE, "name": NAME}

    # Kopf types the decorated daemon as its own handler protocol, called with every kwarg it has; the loop reads
    # only these three.
    daemon = cast(Callable[..., Coroutine[Any, Any, None]], handlers.broker_token_loop)
    body = kopf.Body(cast(Any, world.body()))
    loop = asyncio.create_task(daemon(body=body, stopped=stopped, memo=kopf.Memo(runtime=runtime)))
    while value(metrics, "tokens", state="Ready") != 1.0:
        assert not loop.done(), "the loop ended on its own"
        await asyncio.sleep(0.01)
    assert value(metrics, "token_stalled", **token) == 0.0
    assert value(metrics, "token_age_seconds", **token) == 0.0
    passes = value(metrics, "reconcile_passes_total", kind="BrokerToken", outcome="converged")
    assert passes is not None and passes >= 1
    assert (value(metrics, "reconcile_duration_seconds_count", kind="BrokerToken", outcome="pending") or 0) >= 1

    stopped.stop()
    await asyncio.wait_for(loop, timeout=1)
    assert value(metrics, "token_stalled", **token) is None
    assert value(metrics, "token_age_seconds", **token) is None
    assert value(metrics, "tokens", state="Ready") == 0.0
