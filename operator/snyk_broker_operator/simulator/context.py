"""What one running simulator serves from (world, fault book, rate limiter) and the response helpers.

:class:`Simulation` is created by :mod:`.server` from a seed and attached to the aiohttp application;
the v1 routes in :mod:`.app` and the admin routes in :mod:`.admin` read it through :data:`SIMULATION`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from typing import Any

from aiohttp import web

from snyk_broker_operator.simulator import errors, faults, ratelimit, seed, state


@dataclasses.dataclass
class Simulation:
    world: state.World
    fault_book: faults.FaultBook
    limiter: ratelimit.RateLimiter
    # Set when the server shuts down, so requests held open by a hang fault let go.
    stopping: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    @classmethod
    def create(
        cls,
        seed_doc: seed.Seed,
        *,
        random_seed: int | None = None,
        rate_limit: int | None = None,
        # Injected by tests: a fake monotonic clock the client's limiter also reads, so a rate test needs no waiting.
        rate_limit_clock: ratelimit.MonotonicClock = time.monotonic,
    ) -> Simulation:
        """A fresh simulation; with ``random_seed`` every token, id and ``errorRate`` draw is reproducible."""
        token_rng: random.Random
        fault_rng: random.Random
        if random_seed is None:
            token_rng, fault_rng = random.SystemRandom(), random.SystemRandom()
        else:
            # Two generators, so injecting faults does not shift the sequence of tokens (and vice versa).
            token_rng, fault_rng = random.Random(random_seed), random.Random(f"faults/{random_seed}")
        return cls(
            world=state.World.from_seed(seed_doc, rng=token_rng),
            fault_book=faults.FaultBook(rng=fault_rng),
            limiter=ratelimit.RateLimiter(
                per_minute=rate_limit or seed_doc.rate_limit_per_minute, clock=rate_limit_clock
            ),
        )


SIMULATION = web.AppKey("simulation", Simulation)


def json_response(body: Any, *, status: int = 200) -> web.Response:
    # json_response sends "application/json; charset=utf-8", the content type Snyk documents.
    return web.json_response(body, status=status)


def error_response(error: errors.V1Error, *, retry_after_seconds: int | None = None) -> web.Response:
    """Snyk's v1 error body with an ``x-error-reference`` id; ``Retry-After`` only when a fault asks for it."""
    response = json_response(error.body(), status=int(error.status))
    response.headers["x-error-reference"] = str(uuid.uuid4())
    if retry_after_seconds is not None:
        response.headers["Retry-After"] = str(retry_after_seconds)
    return response
