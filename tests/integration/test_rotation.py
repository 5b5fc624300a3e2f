"""Token rotation on the real cluster with the simulator: no gap with bridges, InPlace order, failures, triggers, CLI.

Crash safety (the operator killed at each step of a rotation) is in test_rotation_crash.py.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest

from support import snyk as world
from support.env import Env
from support.rotation import (
    BRIDGE_SUFFIX,
    TokenAvailabilityMonitor,
    bridge_deployments,
    calls_to,
    custody_secret,
    events,
    parse_time,
    provisioned,
    request_rotation,
    rotation_idle,
    rotation_secret,
    seed_foreign_provisional,
    status_of,
    template_fingerprint,
    wait_rotation_complete,
)
from support.waiting import wait_for
from support.workloads import fingerprint

NODE = "kwok-node-0"


@pytest.mark.slow
def test_a_bridge_rotation_always_has_a_ready_client_on_the_token_snyk_routes_to(env: Env) -> None:
    consumers = {"broker-a", "broker-b"}
    before = provisioned(env, consumers=consumers, replicas=2)
    old = env.sim.integration(world.GITHUB)["token"]

    with TokenAvailabilityMonitor(env, integration_id=world.GITHUB) as monitor:
        wait_for(lambda: len(monitor.samples) >= 5, timeout=10, what="the monitor's first samples")
        request_rotation(env, "broker", "2030-01-01T00:00:00Z")
        after = wait_rotation_complete(env, "broker", revision=before["revision"] + 1, consumers=consumers, timeout=90)
        wait_for(lambda: not bridge_deployments(env), timeout=30, what="the bridges to be deleted")
        time.sleep(0.5)  # a few samples of the final state, with the bridges' pods going away

    new = env.sim.integration(world.GITHUB)["token"]
    assert new != old
    assert len(monitor.samples) >= 20, f"too few samples ({len(monitor.samples)}); errors: {monitor.errors[-3:]}"
    assert not monitor.failures, f"no ready pod ran the routed token at: {monitor.failures[:5]}"
    assert monitor.routed_fingerprints() == [fingerprint(old), fingerprint(new)]
    assert any(BRIDGE_SUFFIX in pod for s in monitor.samples for pod, _ in s.ready), "no bridge pod ever served"

    bridge_ready, switched = events(env, "BridgeReady"), events(env, "TokenSwitched")
    assert bridge_ready and switched, "no BridgeReady or TokenSwitched event"
    bridge_version, switched_version = bridge_ready[0].metadata.resource_version, switched[0].metadata.resource_version
    assert bridge_version and switched_version
    assert int(bridge_version) < int(switched_version)
    assert len(calls_to(env, "switch_token")) == 1 and len(calls_to(env, "provision_token")) == 1

    assert after["tokenFingerprint"] == fingerprint(new)
    assert after["lastRotateRequest"] == "2030-01-01T00:00:00Z"
    for name in consumers:
        assert template_fingerprint(env, name) == fingerprint(new)
    assert env.token_in("broker") == new and env.token_in(custody_secret("broker"), key="token") == new
    assert bridge_deployments(env) == []
    wait_for(lambda: env.secret(rotation_secret("broker")) is None, timeout=15, what="the rotation Secret to go")
    reasons = {e.reason for e in events(env)}
    assert {"RotationStarted", "BridgeReady", "TokenSwitched", "RotationCompleted"} <= reasons


@dataclass(frozen=True)
class InPlaceLook:
    """One look during an InPlace rotation; the simulator is read before and after the cluster."""

    switched_before: bool
    secret: str | None
    templates: tuple[str | None, ...]
    bridges: tuple[str, ...]
    switched_after: bool

    def rolled_to(self, fingerprint_: str) -> bool:
        return all(template == fingerprint_ for template in self.templates)


@pytest.mark.slow
def test_in_place_rotation_persists_then_rolls_then_switches_and_never_bridges(env: Env) -> None:
    consumers = {"inplace-a", "inplace-b"}
    before = provisioned(env, consumers=consumers, replicas=1, rotation={"strategy": "InPlace"})
    old = env.sim.integration(world.GITHUB)["token"]

    def switched() -> bool:
        return bool(env.sim.integration(world.GITHUB)["token"] != old)

    request_rotation(env, "broker", "inplace-1")
    looks: list[InPlaceLook] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        switched_before = switched()
        secret = env.token_in("broker")
        templates = tuple(template_fingerprint(env, name) for name in sorted(consumers))
        looks.append(InPlaceLook(switched_before, secret, templates, tuple(bridge_deployments(env)), switched()))
        status = status_of(env, "broker")
        if status.get("revision") == before["revision"] + 1 and rotation_idle(status):
            break
        time.sleep(0.05)
    wait_rotation_complete(env, "broker", revision=before["revision"] + 1, consumers=consumers, timeout=30)

    new = env.sim.integration(world.GITHUB)["token"]
    new_fp = fingerprint(new)
    assert new != old
    assert all(not look.bridges for look in looks), "InPlace created a bridge"
    assert all(look.secret == new for look in looks if look.rolled_to(new_fp)), "rolled before the Secret held it"
    assert any(look.secret == new and not look.switched_after for look in looks), "not persisted before the switch"
    assert any(look.rolled_to(new_fp) and not look.switched_after for look in looks), "not rolled before the switch"
    assert all(look.rolled_to(new_fp) for look in looks if look.switched_before), "switched before the roll"
    assert len(calls_to(env, "switch_token")) == 1
    reasons = {e.reason for e in events(env)}
    assert "TokenSwitched" in reasons and "BridgeReady" not in reasons
    assert env.secret(rotation_secret("broker")) is None


@pytest.mark.slow
def test_a_bridge_that_cannot_run_blocks_the_switch_and_the_same_provisional_token_is_used_later(env: Env) -> None:
    label = f"sbo-test-{secrets.token_hex(4)}"
    env.cluster.run_kubectl("label", "node", NODE, f"{label}=yes")
    time.sleep(1)  # the scheduler's node cache must hold the label before the pinned pod is first tried
    try:
        before = provisioned(env, consumers={"pinned"}, replicas=1, node_selector={label: "yes"})
        old = env.sim.integration(world.GITHUB)["token"]
        env.cluster.run_kubectl("label", "node", NODE, f"{label}-")
        request_rotation(env, "broker", "blocked-1")

        def unavailable() -> dict[str, Any] | None:
            ready = env.condition("broker", "Ready")
            return ready if ready and ready["status"] == "False" and ready["reason"] == "BridgeUnavailable" else None

        ready = wait_for(unavailable, timeout=45, what="Ready=False with reason BridgeUnavailable")
        assert f"pinned{BRIDGE_SUFFIX}" in ready["message"]
        provisional_fp = status_of(env, "broker")["rotation"]["provisionalFingerprint"]
        time.sleep(3)  # the operator's chance to (wrongly) switch anyway
        assert calls_to(env, "switch_token") == []
        integration = env.sim.integration(world.GITHUB)
        assert integration["token"] == old and fingerprint(integration["provisionalToken"]) == provisional_fp
        assert env.token_in("broker") == old

        env.cluster.run_kubectl("label", "node", NODE, f"{label}=yes")
        after = wait_rotation_complete(env, "broker", revision=before["revision"] + 1, consumers={"pinned"}, timeout=90)
    finally:
        env.cluster.run_kubectl("label", "node", NODE, f"{label}-", check=False)
    assert after["tokenFingerprint"] == provisional_fp == fingerprint(env.sim.integration(world.GITHUB)["token"])
    assert len(calls_to(env, "provision_token")) == 1
    assert env.token_in("broker") == env.sim.integration(world.GITHUB)["token"]
    assert bridge_deployments(env) == []


def test_a_provisional_token_outstanding_elsewhere_stalls_the_rotation_and_says_what_to_do(env: Env) -> None:
    before = provisioned(env)
    old = env.sim.integration(world.GITHUB)["token"]
    foreign = seed_foreign_provisional(env, world.GITHUB)
    request_rotation(env, "broker", "foreign-1")

    stalled = env.wait_condition("broker", "Stalled", timeout=30)
    assert stalled["reason"] == "ProvisionalTokenOutstanding"
    assert "provisional" in stalled["message"].lower() and "group" in stalled["message"].lower()
    assert calls_to(env, "switch_token") == []
    integration = env.sim.integration(world.GITHUB)
    assert integration["token"] == old and integration["provisionalToken"] == foreign
    assert env.token_in("broker") == old
    assert status_of(env, "broker")["revision"] == before["revision"]


def test_a_shared_token_rotates_in_every_org_that_shares_it(env: Env) -> None:
    before = provisioned(env, shareWith=[{"orgId": world.ORG_TEAM_A}, {"orgId": world.ORG_TEAM_B}])
    request_rotation(env, "broker", "shared-1")
    wait_rotation_complete(env, "broker", revision=before["revision"] + 1)

    token = env.sim.integration(world.GITHUB)["token"]
    clones = [i for i in env.sim.state()["integrations"] if i["orgId"] in {world.ORG_TEAM_A, world.ORG_TEAM_B}]
    assert len(clones) == 2 and all(c["token"] == token for c in clones)
    assert env.token_in("broker") == token
    messages = [e.message or "" for e in events(env) if e.reason in {"TokenSwitched", "RotationCompleted"}]
    assert any(re.search(r"\b[23]\b[^.]*\borgs?\b", m, re.IGNORECASE) for m in messages), messages


@pytest.mark.slow
def test_a_schedule_rotates_again_and_again_after_each_token_was_issued(env: Env) -> None:
    before = provisioned(env, consumers={"scheduled"}, replicas=1, rotation={"every": "20s", "strategy": "Bridge"})
    schedule: dict[str, str] = {}
    triggers: set[str | None] = set()

    def two_more() -> bool:
        status = status_of(env, "broker")
        if status.get("rotation"):
            triggers.add(status["rotation"].get("trigger"))
        if rotation_idle(status) and status.get("issuedAt") and status.get("nextRotationAt"):
            schedule[status["issuedAt"]] = status["nextRotationAt"]
        return bool(status.get("revision", 0) >= before["revision"] + 2 and status["issuedAt"] in schedule)

    wait_for(two_more, timeout=100, interval=0.2, what="two scheduled rotations")
    assert len(schedule) >= 3, schedule
    for issued, next_rotation in schedule.items():
        delay = (parse_time(next_rotation) - parse_time(issued)).total_seconds()
        assert 20 <= delay <= 22, f"nextRotationAt {next_rotation} is not issuedAt {issued} + 20s + 0..2s"
    assert "Schedule" in triggers and triggers <= {"Schedule", None}, triggers


def test_the_same_annotation_value_rotates_once_and_a_new_value_again(env: Env) -> None:
    before = provisioned(env)
    request_rotation(env, "broker", "once")
    wait_rotation_complete(env, "broker", revision=before["revision"] + 1)
    assert status_of(env, "broker")["lastRotateRequest"] == "once"

    request_rotation(env, "broker", None)
    count = env.reconciles()
    request_rotation(env, "broker", "once")
    env.wait_reconciles(count)
    time.sleep(2)  # the operator's chance to (wrongly) rotate again
    assert status_of(env, "broker")["revision"] == before["revision"] + 1
    assert len(calls_to(env, "provision_token")) == 1

    request_rotation(env, "broker", "twice")
    after = wait_rotation_complete(env, "broker", revision=before["revision"] + 2)
    assert after["lastRotateRequest"] == "twice"
    assert len(calls_to(env, "provision_token")) == 2
    assert env.token_in("broker") == env.sim.integration(world.GITHUB)["token"]


@pytest.mark.slow
def test_the_rotate_command_waits_and_prints_the_fingerprints_before_and_after(env: Env) -> None:
    before = provisioned(env, consumers={"cli-client"}, replicas=1)
    command = ["rotate", "broker", "-n", env.namespace, "--wait", "--timeout", "120"]
    result = subprocess.run(
        [sys.executable, "-m", "snyk_broker_operator", *command],
        capture_output=True,
        text=True,
        timeout=150,
        env={**os.environ, "KUBECONFIG": str(env.cluster.kubeconfig)},
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    after = status_of(env, "broker")
    assert after["revision"] == before["revision"] + 1
    assert after["tokenFingerprint"] != before["tokenFingerprint"]
    printed = re.findall(r"sha256:[0-9a-f]{12}", output)
    assert before["tokenFingerprint"] in printed and after["tokenFingerprint"] in printed, output
    assert printed.index(before["tokenFingerprint"]) < printed.index(after["tokenFingerprint"]), output
