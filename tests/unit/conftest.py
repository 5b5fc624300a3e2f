"""The unit tier's per-test time limit: every test under tests/unit gets ``pytest.mark.timeout(2)`` unless it sets one.

Unit tests do no I/O and wait on fake clocks only, so one that runs for seconds is stuck (a waiter nobody wakes, a
loop on a clock that never moves); the limit turns that into a failure naming the test instead of a hung run.
The contract and cluster tiers get no limit from here: their waits have deadlines of their own, and they are
slow for real. pytest-timeout turns itself off under a debugger, so stepping through a unit test still works.
"""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT_TEST_TIMEOUT_SECONDS = 2.0
_UNIT_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # pytest calls this hook with every collected item of the session, not only those under this directory,
    # so the path check keeps the limit off the other tiers when the whole suite runs.
    for item in items:
        if item.path.is_relative_to(_UNIT_DIR) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TEST_TIMEOUT_SECONDS))
