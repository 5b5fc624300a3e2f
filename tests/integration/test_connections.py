"""Connections say whether their credentials work; a cluster connection reads its Secret only in our namespace."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client

from support import snyk as world
from support.env import GROUP, VERSION, Env, broker_token
from support.waiting import wait_for


def connection_ready(env: Env, name: str, *, cluster: bool = False) -> dict[str, Any] | None:
    # The client types a custom object as `object`; it is the JSON body, a dict.
    if cluster:
        found = env.objects.get_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", name)
    else:
        found = env.objects.get_namespaced_custom_object(GROUP, VERSION, env.namespace, "snykconnections", name)
    body = cast(dict[str, Any], found)
    return next((c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def test_a_connection_says_whether_its_credentials_work(env: Env) -> None:
    ok = wait_for(lambda: connection_ready(env, "snyk"), timeout=20, what="the connection's status")
    assert ok["status"] == "True" and "org(s)" in ok["message"]

    revoked = "test-key-revoked-conn-0004"
    env.extra_secrets.add(revoked)
    env.sim.add_key(revoked, group=world.GROUP)
    env.sim.revoke(revoked)
    env.create_secret("revoked-api-key", {"apiToken": revoked})
    env.create(
        "snykconnections",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": "revoked"},
            "spec": {
                "apiUrl": env.simulator.base_url.removesuffix("/v1"),
                "apiTokenSecretRef": {"name": "revoked-api-key"},
            },
        },
    )

    def refused() -> dict[str, Any] | None:
        found = connection_ready(env, "revoked")
        return found if found and found["status"] == "False" else None

    condition = wait_for(refused, timeout=20, what="the revoked key to be reported")
    assert condition["reason"] == "AuthenticationFailed"
    assert revoked not in condition["message"]


@pytest.fixture
def cluster_connection(env: Env) -> Iterator[str]:
    name = f"snyk-{secrets.token_hex(3)}"
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterSnykConnection",
        "metadata": {"name": name},
        "spec": {
            "apiUrl": env.simulator.base_url.removesuffix("/v1"),
            # The operator under test runs "in" the test's namespace (--operator-namespace).
            "apiTokenSecretRef": {"name": "snyk-api-token"},
        },
    }
    env.objects.create_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", body)
    try:
        yield name
    finally:
        env.objects.delete_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", name)


def test_a_cluster_connection_serves_broker_tokens_with_the_secret_from_the_operator_namespace(
    env: Env, cluster_connection: str
) -> None:
    ref = {"kind": "ClusterSnykConnection", "name": cluster_connection}
    env.create("brokertokens", broker_token("via-cluster", connectionRef=ref))
    env.wait_condition("via-cluster", "Ready", timeout=20)
    assert env.token_in("via-cluster") == env.sim.integration(world.GITHUB)["token"]


def test_a_cluster_connection_never_reads_a_secret_outside_the_operator_namespace(env: Env) -> None:
    other = f"{env.namespace}-x"
    env.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    name = f"elsewhere-{secrets.token_hex(3)}"
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterSnykConnection",
        "metadata": {"name": name},
        "spec": {"apiUrl": env.simulator.base_url.removesuffix("/v1"), "apiTokenSecretRef": {"name": "only-there"}},
    }
    try:
        env.core.create_namespaced_secret(
            other, client.V1Secret(metadata=client.V1ObjectMeta(name="only-there"), string_data={"apiToken": "x"})
        )
        env.objects.create_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", body)
        env.create("brokertokens", broker_token("far", connectionRef={"kind": "ClusterSnykConnection", "name": name}))
        stalled = env.wait_condition("far", "Stalled", timeout=20)
        assert stalled["reason"] == "ConnectionNotReady"
        assert f"namespace {env.namespace!r}" in stalled["message"]
    finally:
        env.objects.delete_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", name)
        env.core.delete_namespace(other)
