"""Fixtures for the simulator's HTTP tests: the simulator on the shipped example seed, and raw httpx clients.

A test module may set RANDOM_SEED to pin the simulator's token and fault sequence to values of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from snyk_broker_operator.simulator import RunningSimulator, shipped_seed_path, start_simulator

EXAMPLE_GROUP_KEY = "example-key-with-group-access"


@pytest.fixture
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[RunningSimulator]:
    seed = getattr(request.module, "RANDOM_SEED", 1)
    async with start_simulator(shipped_seed_path(), random_seed=seed) as running:
        yield running


@pytest.fixture
async def api(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """A raw client with the example seed's group-wide key."""
    headers = {"Authorization": f"token {EXAMPLE_GROUP_KEY}"}
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers) as client:
        yield client


@pytest.fixture
async def admin(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.admin_url) as client:
        yield client
