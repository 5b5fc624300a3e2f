"""The engine tier: `engine` run on the in-memory port fakes of tests/support/fakes.py, one fresh world per test."""

from __future__ import annotations

import pytest

from support.fakes import World


@pytest.fixture
def world() -> World:
    return World.create()
