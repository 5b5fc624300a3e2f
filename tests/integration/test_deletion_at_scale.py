"""Deleting many BrokerTokens at once, as a user would (`kubectl delete -f` of the manifests, Secrets included).

Two clean-up paths can act on one consumer Secret at the same moment (the loop that ends on deletion, and the watch
event of an object being deleted); releasing it must be idempotent under those races and the conflicts they cause.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import yaml

from support.env import GROUP, VERSION, Env, broker_token
from support.waiting import wait_for

COUNT = 100
POLICIES = ("Retain", "Delete")
SOURCE_LABEL = "test.snykbroker.dev/given-token"


def manifests(env: Env) -> tuple[list[dict[str, object]], dict[str, str]]:
    """COUNT BrokerTokens, each taking a given token from a Secret of its own (no Snyk call), and those Secrets;
    every other one has deletionPolicy Delete (its name ends in -d), the rest Retain (-r)."""
    documents: list[dict[str, object]] = []
    tokens: dict[str, str] = {}
    for index in range(COUNT):
        policy = POLICIES[index % 2]
        name = f"bt-{index:03d}-{policy[0].lower()}"
        tokens[name] = str(uuid.uuid4())
        env.extra_secrets.add(tokens[name])
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-given", "labels": {SOURCE_LABEL: "yes"}},
                "stringData": {"token": tokens[name]},
            }
        )
        source = {"existingSecretRef": {"name": f"{name}-given", "key": "token"}}
        documents.append(broker_token(name, source=source, deletionPolicy=policy))
    return documents, tokens


def broker_token_names(env: Env) -> set[str]:
    listed = env.objects.list_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens")
    return {item["metadata"]["name"] for item in listed["items"]}  # type: ignore[index]


def ready_count(env: Env) -> int:
    listed = env.objects.list_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens")
    ready = 0
    for item in listed["items"]:  # type: ignore[index]
        conditions = (item.get("status") or {}).get("conditions") or []
        ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready


@pytest.mark.slow
def test_deleting_a_hundred_broker_tokens_at_once_keeps_or_removes_every_secret_as_its_policy_says(
    env: Env, tmp_path: Path
) -> None:
    documents, tokens = manifests(env)
    path = tmp_path / "brokertokens.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    env.cluster.run_kubectl("apply", "-n", env.namespace, "-f", str(path))
    wait_for(lambda: ready_count(env) == COUNT, timeout=120, what=f"all {COUNT} BrokerTokens to be Ready")
    starts = env.operator.starts

    # What a user does: delete what they applied, Secrets and BrokerTokens together, without waiting.
    env.cluster.run_kubectl("delete", "-n", env.namespace, "--wait=false", "-f", str(path))
    wait_for(lambda: not broker_token_names(env), timeout=120, what=f"all {COUNT} BrokerTokens to be deleted")

    def operator_secrets() -> set[str]:
        listed = env.core.list_namespaced_secret(env.namespace)
        return {str(s.metadata.name) for s in listed.items if str(s.metadata.name).startswith("bt-")}

    # The custody copies are owned by their BrokerTokens and go with them (garbage collection, in its own time).
    wait_for(
        lambda: not [n for n in operator_secrets() if n.endswith("-snykbroker-custody")],
        timeout=60,
        what="the custody Secrets to be collected",
    )
    retained = {name: token for name, token in tokens.items() if name.endswith("-r")}
    wait_for(
        lambda: operator_secrets() & set(tokens) == set(retained),
        timeout=30,
        what="exactly the consumer Secrets of deletionPolicy Retain to remain",
    )
    for name, token in retained.items():
        secret = env.secret(name)
        assert secret is not None, f"Secret {name} went after its BrokerToken was deleted"
        assert not secret.metadata.owner_references, f"Secret {name} still has an owner: the GC would take it"
        assert env.token_in(name) == token
    time.sleep(2)  # the garbage collector's chance to (wrongly) take a retained Secret
    assert operator_secrets() & set(tokens) == set(retained)
    log = env.operator.log_text()
    assert "Traceback" not in log, log[log.find("Traceback") - 2000 : log.find("Traceback") + 4000]
    assert env.operator.running and env.operator.starts == starts
