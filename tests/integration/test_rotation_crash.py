"""A rotation survives the operator being killed at each of its steps: one provisioned token, none lost, completed.

The operator kills itself (SIGKILL) at a failpoint named in SBO_FAILPOINTS; the test then checks that the crash
happened where it was meant to, starts the operator again without failpoints and checks the finished rotation.
"""

from __future__ import annotations

import pytest

from support import snyk as world
from support.env import Env
from support.rotation import (
    bridge_deployments,
    calls_to,
    custody_secret,
    provisioned,
    request_rotation,
    rotation_secret,
    template_fingerprint,
    wait_rotation_complete,
)
from support.waiting import wait_for
from support.workloads import fingerprint

CONSUMERS = {"crash-a", "crash-b"}


def assert_crashed_where_expected(env: Env, failpoint: str, *, old: str) -> None:
    """What the cluster and Snyk show right after the kill tells that the failpoint, not something else, ended it."""
    integration = env.sim.integration(world.GITHUB)
    provisional = env.token_in(rotation_secret("broker"))
    switches = [c for c in calls_to(env, "switch_token") if c["status"] == 200]
    assert provisional is not None, "the rotation Secret does not hold the provisional token"
    if failpoint in {"after-provision", "after-bridges"}:
        assert switches == [] and integration["token"] == old
        assert integration["provisionalToken"] == provisional
        assert len(bridge_deployments(env)) == (0 if failpoint == "after-provision" else len(CONSUMERS))
    else:
        assert len(switches) == 1 and integration["token"] == provisional
    if failpoint == "after-switch":
        assert env.token_in("broker") == old and env.token_in(custody_secret("broker"), key="token") == old
    if failpoint == "mid-rollout":
        assert env.token_in("broker") == provisional
        assert any(template_fingerprint(env, name) == fingerprint(provisional) for name in CONSUMERS)


@pytest.mark.slow
@pytest.mark.parametrize("failpoint", ["after-provision", "after-bridges", "after-switch", "mid-rollout"])
def test_a_rotation_killed_at_any_step_completes_after_a_restart_with_one_token_and_none_lost(
    env: Env, failpoint: str
) -> None:
    before = provisioned(env, consumers=CONSUMERS, replicas=1)
    old = env.sim.integration(world.GITHUB)["token"]
    env.operator.restart(env={"SBO_FAILPOINTS": failpoint})
    request_rotation(env, "broker", f"crash-{failpoint}")
    try:
        wait_for(lambda: not env.operator.running, timeout=60, what=f"the operator to kill itself at {failpoint}")
    except AssertionError:
        print(env.operator.log_text()[-4000:])
        raise
    assert_crashed_where_expected(env, failpoint, old=old)

    env.operator.restart()
    after = wait_rotation_complete(env, "broker", revision=before["revision"] + 1, consumers=CONSUMERS, timeout=90)

    current = env.sim.integration(world.GITHUB)["token"]
    assert current != old
    assert len(calls_to(env, "provision_token")) == 1
    assert len([c for c in calls_to(env, "switch_token") if c["status"] == 200]) == 1
    provisionals = [
        t["token"] for t in env.sim.state()["issuedTokens"] if t["origin"] == "api" and t["kind"] == "provisional"
    ]
    assert provisionals == [current], "a provisional token was issued and then lost"
    assert env.token_in("broker") == current
    assert env.token_in(custody_secret("broker"), key="token") == current
    assert after["tokenFingerprint"] == fingerprint(current)
    assert all(i["token"] != old for i in env.sim.state()["integrations"]), "Snyk still routes the old token"
    wait_for(lambda: not bridge_deployments(env), timeout=15, what="the bridges to be deleted")
    wait_for(lambda: env.secret(rotation_secret("broker")) is None, timeout=15, what="the rotation Secret to go")
