"""A BrokerToken on the real cluster with the simulator: provisioned or given, shared, quiet, and self-repairing."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, cast

from support import snyk as world
from support.env import Env, broker_token
from support.waiting import wait_for

INTEGRATION_CALLS = {"get_integration_by_type", "list_integrations", "update_integration", "provision_token",
                     "switch_token", "clone_integration"}  # fmt: skip


def fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def integration_calls(env: Env) -> list[str]:
    """Calls made for BrokerTokens (the connection's own credential check, GET /user/me, is not one of them)."""
    return [c["endpoint"] for c in env.sim.calls() if c["endpoint"] in INTEGRATION_CALLS]


def test_provision_by_type_is_ready_quickly_with_the_issued_token_and_two_calls(env: Env) -> None:
    started = time.monotonic()
    env.create("brokertokens", broker_token("github", secret={"name": "github-broker-token"}))
    env.wait_condition("github", "Ready", timeout=10)
    assert time.monotonic() - started < 10

    issued = env.sim.integration(world.GITHUB)["token"]
    assert issued and env.token_in("github-broker-token") == issued
    status = env.broker_token("github")["status"]
    assert status["tokenFingerprint"] == fingerprint(issued)
    assert status["integrationId"] == world.GITHUB
    assert status["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
    }
    assert integration_calls(env) == ["get_integration_by_type", "update_integration"]


def test_an_existing_token_is_used_with_no_snyk_write_call(env: Env) -> None:
    given = str(uuid.uuid4())
    env.extra_secrets.add(given)
    env.create_secret("given-token", {"token": given})
    env.create(
        "brokertokens",
        broker_token("given", source={"existingSecretRef": {"name": "given-token", "key": "token"}}),
    )
    env.wait_condition("given", "Ready", timeout=15)
    assert env.token_in("given") == given
    assert env.broker_token("given")["status"]["tokenFingerprint"] == fingerprint(given)
    assert integration_calls(env) == []


def test_an_invalid_existing_token_stalls_with_a_message_naming_the_field(env: Env) -> None:
    env.create_secret("bad-token", {"token": "not-a-uuid-at-all"})
    env.create("brokertokens", broker_token("bad", source={"existingSecretRef": {"name": "bad-token", "key": "token"}}))
    stalled = env.wait_condition("bad", "Stalled", timeout=15)
    assert "spec.source.existingSecretRef" in stalled["message"]
    assert stalled["reason"] == "InvalidToken"
    assert env.condition("bad", "Ready")["status"] == "False"  # type: ignore[index]
    assert env.secret("bad") is None


def test_sharing_with_two_orgs_clones_once_and_both_clones_carry_the_token(env: Env) -> None:
    env.create(
        "brokertokens",
        broker_token("shared", shareWith=[{"orgId": world.ORG_TEAM_A}, {"orgId": world.ORG_TEAM_B}]),
    )
    env.wait_condition("shared", "Ready", timeout=15)
    token = env.sim.integration(world.GITHUB)["token"]
    state = env.sim.state()
    clones = [i for i in state["integrations"] if i["orgId"] in {world.ORG_TEAM_A, world.ORG_TEAM_B}]
    assert len(clones) == 2 and all(c["token"] == token and c["type"] == "github" for c in clones)
    shared = env.broker_token("shared")["status"]["sharedWith"]
    assert {(s["orgId"], s["state"]) for s in shared} == {(world.ORG_TEAM_A, "Shared"), (world.ORG_TEAM_B, "Shared")}
    assert integration_calls(env).count("clone_integration") == 2

    for round_ in range(3):
        before = env.reconciles()
        touch(env, "shared", round_)
        env.wait_reconciles(before)
    assert integration_calls(env).count("clone_integration") == 2


def test_an_org_that_already_has_the_integration_is_reported_not_overwritten(env: Env) -> None:
    env.create("brokertokens", broker_token("conflict", shareWith=[{"orgId": world.ORG_WITH_GITHUB}]))
    env.wait_condition("conflict", "Ready", timeout=15)
    (entry,) = env.broker_token("conflict")["status"]["sharedWith"]
    assert entry["state"] == "Conflict" and entry["integrationId"] == world.TEAM_D_GITHUB
    assert env.sim.integration(world.TEAM_D_GITHUB)["token"] is None
    assert "clone_integration" not in integration_calls(env)


def touch(env: Env, name: str, value: object) -> None:
    """A forced resync: any change to the object's annotations wakes its reconcile loop."""
    body = {"metadata": {"annotations": {"test.snykbroker.dev/resync": str(value)}}}
    env.objects.patch_namespaced_custom_object("snykbroker.dev", "v1alpha1", env.namespace, "brokertokens", name, body)


def snapshot(env: Env, name: str, secret: str) -> dict[str, object]:
    bt = env.broker_token(name)
    custody = env.secret(f"{name}-snykbroker-custody")
    consumer = env.secret(secret)
    assert custody is not None and consumer is not None
    return {
        "status": bt["status"],
        "custody": custody.metadata.resource_version,
        "consumer": consumer.metadata.resource_version,
        "calls": len(env.sim.calls()),
    }


def test_converged_means_quiet_across_resyncs_and_a_restart(env: Env) -> None:
    env.create("brokertokens", broker_token("quiet"))
    env.wait_condition("quiet", "Ready", timeout=15)
    wait_for(lambda: env.reconciles() >= 2, timeout=10, what="the loop to settle")
    time.sleep(1)
    before = snapshot(env, "quiet", "quiet")

    for round_ in range(10):
        count = env.reconciles()
        touch(env, "quiet", round_)
        env.wait_reconciles(count)
    after_resyncs = snapshot(env, "quiet", "quiet")
    assert after_resyncs == before  # no Snyk call, no Secret write, no status patch, same transition times

    count = env.reconciles()
    env.operator.restart()
    # The first pass of the new process is the one that would write: its writes are done when it is counted.
    env.wait_reconciles(count, timeout=30)
    assert snapshot(env, "quiet", "quiet") == before


def test_drift_in_the_consumer_secret_is_repaired_without_a_snyk_call(env: Env) -> None:
    env.create("brokertokens", broker_token("drift", secret={"name": "drift-token", "labels": {"team": "platform"}}))
    env.wait_condition("drift", "Ready", timeout=15)
    token = env.token_in("drift-token")
    calls = len(env.sim.calls())

    env.core.delete_namespaced_secret("drift-token", env.namespace)
    wait_for(lambda: env.token_in("drift-token") == token, timeout=15, what="the deleted Secret to come back")

    env.core.patch_namespaced_secret("drift-token", env.namespace, {"data": {"BROKER_TOKEN": "ZWRpdGVk"}})
    wait_for(lambda: env.token_in("drift-token") == token, timeout=15, what="the edited token to be restored")

    env.cluster.run_kubectl("label", "secret", "drift-token", "team-", "-n", env.namespace)

    def labels_back() -> bool:
        secret = env.secret("drift-token")
        return bool(secret and (secret.metadata.labels or {}).get("team") == "platform")

    wait_for(labels_back, timeout=15, what="the stripped label to be restored")
    assert len(env.sim.calls()) == calls
    env.wait_events("SecretRestored")


def test_kubectl_wait_for_ready_works(env: Env) -> None:
    env.create("brokertokens", broker_token("waitable"))
    output = env.cluster.run_kubectl(
        "wait", "--for=condition=Ready", "brokertoken/waitable", "-n", env.namespace, "--timeout=30s"
    )
    assert "condition met" in output


def test_retain_keeps_the_secret_and_delete_removes_it(env: Env) -> None:
    env.create("brokertokens", broker_token("kept", deletionPolicy="Retain"))
    env.create("brokertokens", broker_token("dropped", deletionPolicy="Delete", integration={"type": "gitlab"}))
    env.wait_condition("kept", "Ready", timeout=15)
    env.wait_condition("dropped", "Ready", timeout=15)
    kept_token = env.token_in("kept")
    for name in ("kept", "dropped"):
        env.objects.delete_namespaced_custom_object("snykbroker.dev", "v1alpha1", env.namespace, "brokertokens", name)

    def gone(name: str) -> bool:
        found = env.objects.list_namespaced_custom_object("snykbroker.dev", "v1alpha1", env.namespace, "brokertokens")
        listed = cast(dict[str, Any], found)  # typed `object` by the client; the JSON list body
        return all(item["metadata"]["name"] != name for item in listed["items"])

    wait_for(lambda: gone("kept") and gone("dropped"), timeout=20, what="both BrokerTokens to be deleted")
    wait_for(lambda: env.secret("dropped") is None, timeout=20, what="the Delete policy to remove its Secret")
    wait_for(lambda: env.secret("kept-snykbroker-custody") is None, timeout=20, what="custody to be collected")
    time.sleep(2)  # give the garbage collector the chance to (wrongly) collect the retained Secret
    kept = env.secret("kept")
    assert kept is not None and env.token_in("kept") == kept_token
    assert not kept.metadata.owner_references
