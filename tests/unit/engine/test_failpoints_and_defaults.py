"""The production hooks: `failpoints.from_environment` arms crash points only when SBO_FAILPOINTS names them, and the
defaults of `Dependencies` (the clock, the crash hook) are what production runs with."""

from __future__ import annotations

import os
import signal
from datetime import UTC

import pytest

from snyk_broker_operator.engine import failpoints
from snyk_broker_operator.engine.context import no_failpoint
from snyk_broker_operator.engine.dependencies import Dependencies, utc_now
from support.fakes import World


@pytest.mark.parametrize("environ", [{}, {"SBO_FAILPOINTS": ""}, {"SBO_FAILPOINTS": " , "}], ids=repr)
def test_without_armed_names_the_hook_is_the_production_one_that_does_nothing(environ: dict[str, str]) -> None:
    hook = failpoints.from_environment(environ)

    assert hook is no_failpoint
    for name in failpoints.NAMES:
        hook(name)  # returns: nothing crashes


def test_an_armed_hook_kills_the_process_at_an_armed_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[tuple[int, int]] = []
    # The one place a real SIGKILL would be sent: recorded instead, so that the test process survives.
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    hook = failpoints.from_environment({"SBO_FAILPOINTS": "after-switch, mid-rollout"})

    assert hook is not no_failpoint
    hook("after-provision")
    hook("after-bridges")
    assert kills == []
    hook("mid-rollout")
    assert kills == [(os.getpid(), signal.SIGKILL)]


def test_production_dependencies_read_the_real_clock_in_whole_utc_seconds_and_never_crash(world: World) -> None:
    deps = Dependencies(
        secrets=world.secrets,
        objects=world.objects,
        events=world.events,
        connections=world.connections,
        workloads=world.workloads,
    )

    now = deps.now()

    assert deps.now is utc_now and deps.failpoint is no_failpoint
    assert now.tzinfo is UTC and now.microsecond == 0
