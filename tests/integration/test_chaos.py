"""The chaos suite: 100 BrokerTokens (provisioned, given, shared, consumed) with ten rotations in flight, through a
fault of Snyk, of the network to it, of the control plane or of the operator itself; then the judge's checks.

`make chaos` runs every scenario (`pytest --chaos`); `make test` runs the short one (Snyk down for 20 s). Each
scenario writes its figures to bench/results/chaos.json. Bounds are per scenario: the time from the fault's end until
every BrokerToken converged, with what retries add (the operator's backoff reaches 5 minutes only after many
failures; these faults end well before).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from snyk_broker_operator.simulator import SimulatorThread
from support import chaos
from support import snyk as world
from support.env import Env
from support.faulty_network import FaultyNetwork

COLD_START_BOUND = 240.0


@pytest.fixture
def snyk_seed() -> dict[str, Any]:
    """The chaos world instead of the integration tier's small one."""
    return chaos.seed()


@pytest.fixture
def network(snyk: tuple[SimulatorThread, world.SimulatorAdmin]) -> Iterator[FaultyNetwork]:
    """A TCP hop between the operator and Snyk, where the network faults happen."""
    simulator, _ = snyk
    with FaultyNetwork(simulator.running.host, simulator.running.port, seed=5) as hop:
        yield hop


@dataclasses.dataclass
class Stage:
    """What a scenario acts on."""

    env: Env
    network: FaultyNetwork
    workload: chaos.Workload


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    seconds: float  # how long the fault lasts
    converge_bound: float  # seconds from the fault's end until every BrokerToken converged
    fault: Callable[[Stage, float], None]  # requests the rotations, runs the fault for the given seconds, ends it
    says: tuple[str, ...] = ()  # what the statuses must have said while the fault lasted (any one of them)
    restarts_operator: bool = False
    # A kill, or a call cut after it was sent, can lose a provision's answer (the one step Snyk's API cannot read
    # back): the rotation then stalls saying so, and the test plays the user's remedy (Snyk clears the token).
    may_cut_off_provisions: bool = False


def snyk_errors(stage: Stage, seconds: float) -> None:
    stage.env.sim.fault(endpoint="*", errorRate=0.3, errorStatus=503)
    stage.workload.request_rotations()
    time.sleep(seconds)
    stage.env.sim.clear_faults()


def rate_limit_storm(stage: Stage, seconds: float) -> None:
    stage.env.sim.fault(endpoint="*", rateLimitBurst=1_000_000, retryAfterSeconds=5)
    stage.workload.request_rotations()
    time.sleep(seconds)
    stage.env.sim.clear_faults()


def hangs_then_resets(stage: Stage, seconds: float) -> None:
    stage.network.hang()
    stage.workload.request_rotations()
    time.sleep(seconds / 2)
    stage.network.reset(rate=0.5)
    time.sleep(seconds / 2)
    stage.network.pass_through()


def snyk_down(stage: Stage, seconds: float) -> None:
    stage.network.down()
    stage.workload.request_rotations()
    time.sleep(seconds)
    stage.network.pass_through()


def control_plane_restart(component: str) -> Callable[[Stage, float], None]:
    def fault(stage: Stage, seconds: float) -> None:
        stage.workload.request_rotations()
        time.sleep(2)  # the rotations are under way: custody and rotation Secrets being written, bridges rolling
        stage.env.cluster.restart_component(component, down_for=seconds)

    return fault


def operator_killed(stage: Stage, seconds: float) -> None:
    """SIGKILL at random moments while the rotations run (the cold start's kills happen in the test itself)."""
    stage.workload.request_rotations()
    kill_at_random(stage.env, kills=5, within=seconds)


def kill_at_random(env: Env, *, kills: int, within: float) -> None:
    draw = random.Random(len(env.namespace))
    moments = sorted(draw.uniform(0, within) for _ in range(kills))
    start = time.monotonic()
    for moment in moments:
        time.sleep(max(0.0, start + moment - time.monotonic()))
        env.operator.restart(kill=True)


SMOKE = Scenario("snyk-down-20s", 20, 120, snyk_down, says=(chaos.SNYK_UNREACHABLE,))
SCENARIOS = [
    Scenario("snyk-5xx-30pct-2m", 120, 120, snyk_errors),
    Scenario("snyk-429-storm-1m", 60, 120, rate_limit_storm, says=(chaos.SNYK_RATE_LIMITED,)),
    Scenario(
        "snyk-hangs-then-resets-1m",
        60,
        150,
        hangs_then_resets,
        may_cut_off_provisions=True,
        # A call that hangs after it was sent may have taken effect: the status says the outcome is unknown.
        says=(chaos.SNYK_UNREACHABLE, chaos.SNYK_OUTCOME_UNKNOWN),
    ),
    Scenario("snyk-down-60s", 60, 150, snyk_down, says=(chaos.SNYK_UNREACHABLE,)),
    Scenario("api-server-restart", 5, 120, control_plane_restart("kube-apiserver")),
    Scenario("etcd-restart", 5, 120, control_plane_restart("etcd")),
    Scenario("operator-sigkill-x10", 20, 150, operator_killed, restarts_operator=True, may_cut_off_provisions=True),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario",
    [SMOKE, *(pytest.param(s, marks=pytest.mark.chaos) for s in SCENARIOS)],
    ids=lambda s: s.name,
)
def test_every_token_converges_after_the_fault_and_nothing_is_lost_or_repeated(
    env: Env, network: FaultyNetwork, scenario: Scenario, request: pytest.FixtureRequest
) -> None:
    workload = chaos.Workload(env, network.url)
    workload.create()
    if scenario.restarts_operator:
        kill_at_random(env, kills=5, within=20)  # the cold start, killed too
    cold_start = workload.wait_converged(COLD_START_BOUND)
    generations_before = workload.consumer_generations()
    starts_before = env.operator.starts

    with chaos.Sampler(workload) as sampler:
        fault_started = time.monotonic()
        scenario.fault(Stage(env, network, workload), scenario.seconds)
        fault_seconds = time.monotonic() - fault_started
        converge_seconds = workload.wait_converged(
            scenario.converge_bound, clear_cut_off=scenario.may_cut_off_provisions
        )

    verdict = chaos.judge(
        workload,
        scenario=scenario.name,
        fault_seconds=fault_seconds,
        converge_seconds=converge_seconds,
        samples=sampler.samples,
        generations_before=generations_before,
        starts_before=starts_before,
    )
    if request.config.getoption("--chaos"):
        verdict.record()  # `make chaos` writes the figures; `make test`'s short run only checks them
    print(f"{scenario.name}: cold start {cold_start:.0f} s; {verdict}")
    assert not verdict.problems, verdict.problems
    assert (verdict.lost_tokens, verdict.duplicated_provisions, verdict.tracebacks) == (0, 0, 0), verdict
    assert (verdict.absent_secret_samples, verdict.refused_token_samples) == (0, 0), verdict
    assert env.operator.running
    if not scenario.may_cut_off_provisions:
        assert verdict.provisions_cut_off == 0, "a provision lost its answer where no call can be cut"
    if not scenario.restarts_operator:
        assert verdict.operator_restarts == 0, "the operator restarted during the fault"
    if scenario.says:
        said = [message for message in sampler.samples.messages if any(text in message for text in scenario.says)]
        assert said, (
            f"no status said {scenario.says!r} during the fault; they said {sampler.samples.messages.most_common(5)}"
        )
