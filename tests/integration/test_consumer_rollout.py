"""Broker clients that consume a token roll onto a new one, across redundant Deployments and replicas, and only then.

Token changes are made the way a user makes them with `existingSecretRef`: by editing the Secret they supplied.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, cast

from kubernetes import client

from support.env import GROUP, VERSION, Env, broker_token
from support.waiting import wait_for
from support.workloads import (
    FINGERPRINT_ANNOTATION,
    apps,
    broker_client,
    create_deployment,
    fingerprint,
    template_annotations,
)

ANNOTATION = FINGERPRINT_ANNOTATION


def replica_sets(env: Env, name: str, namespace: str | None = None) -> list[client.V1ReplicaSet]:
    return list(apps(env).list_namespaced_replica_set(namespace or env.namespace, label_selector=f"app={name}").items)


def given_token(env: Env, name: str = "given") -> str:
    """The user's Secret, labelled with the BrokerToken's name so that its changes are picked up at once."""
    token = str(uuid.uuid4())
    env.extra_secrets.add(token)
    env.create_secret(name, {"token": token}, labels={"snykbroker.dev/broker-token": "broker"})
    return token


def change_token(env: Env, name: str = "given") -> str:
    token = str(uuid.uuid4())
    env.extra_secrets.add(token)
    env.core.patch_namespaced_secret(name, env.namespace, {"stringData": {"token": token}})
    return token


fingerprint_of = fingerprint


def consumers_of(env: Env, name: str) -> dict[str, dict[str, Any]]:
    status = env.broker_token(name).get("status") or {}
    return {c["name"]: c for c in status.get("consumers") or []}


def all_current(env: Env, name: str, fingerprint: str, expected: set[str]) -> bool:
    found = consumers_of(env, name)
    return set(found) == expected and all(
        c["state"] == "Current" and c.get("fingerprint") == fingerprint for c in found.values()
    )


def given_broker_token(env: Env, name: str = "broker") -> None:
    env.create("brokertokens", broker_token(name, source={"existingSecretRef": {"name": "given", "key": "token"}}))


def test_a_token_change_rolls_every_redundant_consumer_and_reports_them_current(env: Env) -> None:
    first = given_token(env)
    for name in ("broker-a", "broker-b"):
        create_deployment(env, broker_client(name))
    given_broker_token(env)
    wait_for(
        lambda: all_current(env, "broker", fingerprint_of(first), {"broker-a", "broker-b"}), timeout=60, what="1st"
    )
    assert env.broker_token("broker")["status"]["consumersReady"] == "2/2"
    env.wait_condition("broker", "Ready")

    second = change_token(env)
    wait_for(
        lambda: all_current(env, "broker", fingerprint_of(second), {"broker-a", "broker-b"}), timeout=60, what="2nd"
    )
    env.wait_condition("broker", "Ready")
    for name in ("broker-a", "broker-b"):
        deployment = apps(env).read_namespaced_deployment(name, env.namespace)
        assert template_annotations(deployment).get(ANNOTATION) == fingerprint_of(second)
        assert deployment.status.available_replicas == 2 and deployment.status.updated_replicas == 2
        live = [rs for rs in replica_sets(env, name) if rs.spec.replicas]
        assert len(live) == 1 and template_annotations(live[0]).get(ANNOTATION) == fingerprint_of(second)
    env.wait_events("RolloutStarted", "RolloutCompleted")


def test_workloads_that_do_not_read_the_secret_are_never_touched(env: Env, kube_api: client.ApiClient) -> None:
    given_token(env)
    create_deployment(env, broker_client("reader"))
    create_deployment(env, broker_client("bystander", secret="something-else"))
    other_namespace = f"{env.namespace}-other"
    env.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other_namespace)))
    try:
        create_deployment(env, broker_client("elsewhere"), other_namespace)
        given_broker_token(env)
        env.wait_condition("broker", "Ready", timeout=60)
        change_token(env)
        wait_for(lambda: len(replica_sets(env, "reader")) == 3, timeout=60, what="the reader to roll twice")
        assert set(consumers_of(env, "broker")) == {"reader"}
        for name, namespace in (("bystander", env.namespace), ("elsewhere", other_namespace)):
            deployment = apps(env).read_namespaced_deployment(name, namespace)
            assert ANNOTATION not in template_annotations(deployment)
            assert deployment.metadata.generation == 1
            assert len(replica_sets(env, name, namespace)) == 1
    finally:
        env.core.delete_namespace(other_namespace)


def test_restarts_and_resyncs_cause_no_rollout(env: Env) -> None:
    token = given_token(env)
    create_deployment(env, broker_client("steady"))
    given_broker_token(env)
    wait_for(lambda: all_current(env, "broker", fingerprint_of(token), {"steady"}), timeout=60, what="first rollout")
    sets_before = len(replica_sets(env, "steady"))
    generation = apps(env).read_namespaced_deployment("steady", env.namespace).metadata.generation

    for round_ in range(10):
        count = env.reconciles()
        body = {"metadata": {"annotations": {"test.snykbroker.dev/resync": str(round_)}}}
        env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", "broker", body)
        env.wait_reconciles(count)
    count = env.reconciles()
    env.operator.restart()
    # A rollout would start in the first pass of the new process, which is over when it is counted.
    env.wait_reconciles(count, timeout=30)
    assert len(replica_sets(env, "steady")) == sets_before
    assert apps(env).read_namespaced_deployment("steady", env.namespace).metadata.generation == generation


def test_a_burst_of_token_changes_is_coalesced_and_the_last_one_wins(env: Env) -> None:
    given_token(env)
    create_deployment(env, broker_client("bursty"))
    given_broker_token(env)
    env.wait_condition("broker", "Ready", timeout=60)
    sets_before = len(replica_sets(env, "bursty"))

    started = time.monotonic()
    last = ""
    for _ in range(5):
        last = change_token(env)
        time.sleep(0.1)
    assert time.monotonic() - started < 2.0
    wait_for(lambda: all_current(env, "broker", fingerprint_of(last), {"bursty"}), timeout=60, what="the last token")
    assert len(replica_sets(env, "bursty")) - sets_before <= 2
    assert env.token_in("broker") == last


def test_a_consumer_applied_by_a_gitops_tool_keeps_our_annotation_and_we_own_only_it(env: Env) -> None:
    token = given_token(env)
    manifest = broker_client("gitops")
    applied = json.dumps({**manifest, "apiVersion": "apps/v1", "kind": "Deployment"})

    def gitops_apply() -> str:
        return env.cluster.run_kubectl(
            "apply", "--server-side", "--field-manager=argocd-controller", "-n", env.namespace, "-f", "-", stdin=applied
        )

    gitops_apply()
    given_broker_token(env)
    wait_for(lambda: all_current(env, "broker", fingerprint_of(token), {"gitops"}), timeout=60, what="the rollout")

    assert "serverside-applied" in gitops_apply()  # no conflict: the GitOps tool does not claim our annotation
    deployment = apps(env).read_namespaced_deployment("gitops", env.namespace)
    assert template_annotations(deployment).get(ANNOTATION) == fingerprint_of(token)
    ours = [m for m in deployment.metadata.managed_fields if m.manager == "snyk-broker-operator"]
    assert len(ours) == 1 and ours[0].operation == "Apply"
    owned = ours[0].fields_v1
    assert owned == {"f:spec": {"f:template": {"f:metadata": {"f:annotations": {f"f:{ANNOTATION}": {}}}}}}


def test_a_consumer_that_cannot_become_ready_is_reported_and_others_still_roll(env: Env) -> None:
    token = given_token(env)
    stuck = broker_client("stuck")
    stuck["spec"]["progressDeadlineSeconds"] = 5
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-label": "anywhere"}
    create_deployment(env, stuck)
    create_deployment(env, broker_client("healthy"))
    given_broker_token(env)

    def stuck_failed() -> dict[str, Any] | None:
        found = consumers_of(env, "broker")
        return found if found.get("stuck", {}).get("state") == "Failed" else None

    found = wait_for(stuck_failed, timeout=90, what="the stuck consumer to be reported Failed")
    assert found["stuck"]["reason"] == "ProgressDeadlineExceeded"
    wait_for(lambda: consumers_of(env, "broker").get("healthy", {}).get("state") == "Current", timeout=60, what="ok")
    assert consumers_of(env, "broker")["healthy"]["fingerprint"] == fingerprint_of(token)
    ready = env.condition("broker", "Ready")
    assert ready is not None and ready["status"] == "False"
    assert "stuck" in ready["message"] and "ProgressDeadlineExceeded" in ready["message"]
    assert env.broker_token("broker")["status"]["consumersReady"] == "1/2"
    env.wait_events("RolloutFailed", warning=True)


def test_more_than_four_ha_clients_on_one_token_are_warned_about(env: Env) -> None:
    given_token(env)
    create_deployment(env, broker_client("ha-a", replicas=2))
    create_deployment(env, broker_client("ha-b", replicas=2))
    given_broker_token(env)
    ready = env.wait_condition("broker", "Ready", timeout=60)
    assert ready["reason"] == "Reconciled"  # four HA clients: allowed

    apps(env).patch_namespaced_deployment_scale("ha-b", env.namespace, {"spec": {"replicas": 3}})

    def warned() -> dict[str, Any] | None:
        condition = env.condition("broker", "Ready")
        return condition if condition and condition["reason"] == "HAClientLimitExceeded" else None

    condition = wait_for(warned, timeout=60, what="the HA over-subscription warning")
    assert "5 broker clients" in condition["message"]
    env.wait_events("HAClientLimitExceeded", warning=True)
    time.sleep(2)  # time for a (wrong) second warning
    events = [e for e in env.core.list_namespaced_event(env.namespace).items if e.reason == "HAClientLimitExceeded"]
    assert len(events) == 1 and events[0].type == "Warning"


def test_redundant_clients_with_different_client_urls_are_warned_about(env: Env) -> None:
    given_token(env)
    create_deployment(env, broker_client("url-a", client_url="http://a:8000"))
    create_deployment(env, broker_client("url-b", client_url="http://b:8000"))
    given_broker_token(env)

    def warned() -> dict[str, Any] | None:
        condition = env.condition("broker", "Ready")
        return condition if condition and "BROKER_CLIENT_URL" in condition["message"] else None

    wait_for(warned, timeout=60, what="the client URL mismatch warning")


def test_a_selector_replaces_discovery_by_reference(env: Env) -> None:
    token = given_token(env)
    create_deployment(env, broker_client("by-reference"))
    picked = broker_client("by-label", secret="token-from-elsewhere")
    picked["metadata"]["labels"]["broker"] = "github"
    create_deployment(env, picked)
    env.create(
        "brokertokens",
        broker_token(
            "broker",
            source={"existingSecretRef": {"name": "given", "key": "token"}},
            consumers={"selector": {"matchLabels": {"broker": "github"}}},
        ),
    )
    wait_for(lambda: all_current(env, "broker", fingerprint_of(token), {"by-label"}), timeout=60, what="the pick")
    untouched = apps(env).read_namespaced_deployment("by-reference", env.namespace)
    assert ANNOTATION not in template_annotations(untouched)


def test_a_stateful_set_consumer_rolls_onto_a_new_token_like_a_deployment(env: Env) -> None:
    token = given_token(env)
    body = broker_client("sts", replicas=2)
    body["kind"] = "StatefulSet"
    body["spec"]["serviceName"] = "sts"
    apps(env).create_namespaced_stateful_set(env.namespace, cast(Any, body))
    given_broker_token(env)
    wait_for(lambda: all_current(env, "broker", fingerprint_of(token), {"sts"}), timeout=60, what="first rollout")
    assert consumers_of(env, "broker")["sts"]["kind"] == "StatefulSet"

    new = change_token(env)

    wait_for(lambda: all_current(env, "broker", fingerprint_of(new), {"sts"}), timeout=90, what="the token rollout")
    workload = apps(env).read_namespaced_stateful_set("sts", env.namespace)
    assert template_annotations(workload)[ANNOTATION] == fingerprint_of(new)
