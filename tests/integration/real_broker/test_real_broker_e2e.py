"""The operator end to end with the real Snyk Broker: real broker clients (on the process node) and a real broker
server, the token provisioned through the simulator, and rotations sampled every 10 ms at the broker server.

The open-source broker server accepts any token, so every assertion ties what is connected to what Snyk issued: the
token the simulator reports as current for the integration is the one the server shows connected.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from integration.real_broker.conftest import CLIENTS, BrokerWorld, hashed, record
from support import snyk as world
from support.gap_monitor import fingerprint
from support.rotation import (
    bridge_deployments,
    calls_to,
    request_rotation,
    rotation_secret,
    status_of,
    wait_rotation_complete,
)
from support.waiting import wait_for


def test_a_provisioned_token_reaches_the_client_and_the_server_shows_exactly_that_token_connected(
    broker: BrokerWorld,
) -> None:
    broker.deploy_clients(CLIENTS, replicas=1)
    broker.provision(consumers={CLIENTS})
    token = broker.env.sim.integration(world.GITHUB)["token"]
    assert broker.env.token_in("broker") == token

    assert broker.wait_only(token, clients=1)
    before = broker.origin.requests
    assert broker.server.relays(token, "repos/acme/app/contents/package.json")
    assert broker.origin.requests == before + 1
    assert not broker.server.relays(str(uuid.uuid4()), timeout=1), "a token nobody holds must not relay"
    allocations = broker.dispatcher_allocations()
    assert {a["tokenFingerprint"] for a in allocations} == {fingerprint(token)}, "the HA client skipped the dispatcher"


def test_redundant_clients_hold_one_token_and_serve_the_org_it_is_shared_with(broker: BrokerWorld) -> None:
    broker.deploy_clients(CLIENTS, replicas=2)
    broker.provision(consumers={CLIENTS}, shareWith=[{"orgId": world.ORG_TEAM_A}])
    token = broker.env.sim.integration(world.GITHUB)["token"]
    clones = [i for i in broker.env.sim.state()["integrations"] if i["orgId"] == world.ORG_TEAM_A]

    broker.wait_connected(token, clients=2)
    assert broker.wait_only(token, clients=2), "two replicas, two clients on the one token"
    assert len(clones) == 1 and clones[0]["token"] == token, "the share is served by the same token"
    assert all(broker.server.relays(clones[0]["token"], f"shared/{n}") for n in range(5))


def _rotate_under_monitor(
    broker: BrokerWorld, strategy: str, test: str, tmp_path: Path
) -> tuple[str, str, dict[str, object]]:
    """Two real clients on a provisioned token, then one rotation sampled every 10 ms from start to finish."""
    broker.deploy_clients(CLIENTS, replicas=2)
    before = broker.provision(consumers={CLIENTS}, rotation={"strategy": strategy})
    old = broker.env.sim.integration(world.GITHUB)["token"]
    broker.wait_connected(old, clients=2)

    with broker.monitor(world.GITHUB) as monitor:
        wait_for(lambda: monitor.good_probes(old) >= 10, timeout=20, what="the monitor's first good probes")
        request_rotation(broker.env, "broker", f"e2e-{strategy}")
        wait_rotation_complete(broker.env, "broker", revision=before["revision"] + 1, consumers={CLIENTS}, timeout=120)
        new = broker.env.sim.integration(world.GITHUB)["token"]
        wait_for(lambda: not bridge_deployments(broker.env), timeout=30, what="the bridges to be deleted")
        final = broker.wait_only(new, clients=2)
        time.sleep(0.3)  # a few samples of the final state
    report = monitor.report(strategy)
    monitor.dump(tmp_path / "probes.jsonl")
    record(report, test)
    assert new != old
    assert report.samples >= 200, report
    assert report.current_tokens == [fingerprint(old), fingerprint(new)], report
    assert hashed(old) not in final, "the old token still has a client"
    assert not broker.server.relays(old, timeout=1)
    return old, new, report.as_dict()


@pytest.mark.slow
def test_a_bridge_rotation_keeps_a_connected_client_on_the_current_token_at_every_sample(
    broker: BrokerWorld, tmp_path: Path
) -> None:
    _, new, report = _rotate_under_monitor(broker, "Bridge", "bridge", tmp_path)

    assert report["gaps_over_150ms"] == 0 and float(str(report["longest_gap_ms"])) < 150, report
    assert bridge_deployments(broker.env) == []
    assert broker.env.secret(rotation_secret("broker")) is None
    assert broker.env.token_in("broker") == new
    assert len(calls_to(broker.env, "switch_token")) == 1


@pytest.mark.slow
def test_an_in_place_rotation_shows_the_gap_a_bridge_avoids(broker: BrokerWorld, tmp_path: Path) -> None:
    _, new, report = _rotate_under_monitor(broker, "InPlace", "in-place", tmp_path)

    # The control: the consumers restart on the provisional token before the switch, so the current token loses
    # its clients until Snyk switches. The monitor must see that gap, or it could not see one in a Bridge either.
    assert report["failed_probes"] and float(str(report["longest_gap_ms"])) > 0, report
    assert status_of(broker.env, "broker")["tokenFingerprint"] == fingerprint(new)
