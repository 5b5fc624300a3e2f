"""A Bridge rotation with real broker clients survives the operator being SIGKILLed at each of its steps (the
failpoints of test_rotation_crash.py): the token Snyk treats as current keeps a connected client that relays, sampled
every 10 ms through the kill, the dead time and the restart; at the end no client holds a token Snyk no longer
accepts. `make test` runs the after-switch kill (the one that leaves old-token clients behind a switched Snyk); the
other three are marked real_broker_heavy (`make broker-e2e`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from integration.real_broker.conftest import CLIENTS, BrokerWorld, hashed, record
from support import snyk as world
from support.gap_monitor import fingerprint
from support.rotation import bridge_deployments, calls_to, request_rotation, wait_rotation_complete
from support.waiting import wait_for

IN_MAKE_TEST = "after-switch"
FAILPOINTS = [
    pytest.param(name, marks=() if name == IN_MAKE_TEST else pytest.mark.real_broker_heavy, id=name)
    for name in ("after-provision", "after-bridges", "after-switch", "mid-rollout")
]
DEAD_SECONDS = 2.0  # the operator stays dead this long: the clients must carry the rotation's state on their own


@pytest.mark.slow
@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_an_operator_killed_at_a_rotation_step_leaves_the_current_token_served_and_no_stale_client(
    broker: BrokerWorld, failpoint: str, tmp_path: Path
) -> None:
    broker.deploy_clients(CLIENTS, replicas=2)
    before = broker.provision(consumers={CLIENTS})
    old = broker.env.sim.integration(world.GITHUB)["token"]
    broker.wait_connected(old, clients=2)
    broker.env.operator.restart(env={"SBO_FAILPOINTS": failpoint})

    with broker.monitor(world.GITHUB) as monitor:
        wait_for(lambda: monitor.good_probes(old) >= 10, timeout=20, what="the monitor's first good probes")
        request_rotation(broker.env, "broker", f"crash-{failpoint}")
        wait_for(
            lambda: not broker.env.operator.running, timeout=60, what=f"the operator to kill itself at {failpoint}"
        )
        time.sleep(DEAD_SECONDS)
        broker.env.operator.restart()
        wait_rotation_complete(broker.env, "broker", revision=before["revision"] + 1, consumers={CLIENTS}, timeout=120)
        new = broker.env.sim.integration(world.GITHUB)["token"]
        wait_for(lambda: not bridge_deployments(broker.env), timeout=30, what="the bridges to be deleted")
        final = broker.wait_only(new, clients=2)
        time.sleep(0.3)
    report = monitor.report("Bridge")
    monitor.dump(tmp_path / "probes.jsonl")
    record(report, f"bridge-killed-{failpoint}")

    assert report.current_tokens == [fingerprint(old), fingerprint(new)], report
    assert report.gaps_over_150ms == 0 and report.longest_gap_ms < 150, report
    assert len(calls_to(broker.env, "provision_token")) == 1
    assert len([c for c in calls_to(broker.env, "switch_token") if c["status"] == 200]) == 1
    stale = {hashed(t) for t in broker.env.sim.issued_tokens() if t != new}
    assert not stale & set(final), "a client still holds a token Snyk no longer accepts"
    assert not broker.server.relays(old, timeout=1)
