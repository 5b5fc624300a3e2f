"""`connections.Connections`: from a connectionRef to a Snyk client, through the connection object and its API-token
Secret (fake stores; the clients are built but never send a request). One client per (API URL, key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from snyk_broker_operator.adapters.snyk import SnykClient
from snyk_broker_operator.engine.connections import Connections
from snyk_broker_operator.engine.outcomes import ConnectionUnusable
from snyk_broker_operator.models import CLUSTER_SNYK_CONNECTION_PLURAL, SNYK_CONNECTION_PLURAL
from snyk_broker_operator.models.enums import ConditionReason, ConnectionKind
from support.fakes import NAMESPACE, World, opaque_secret

OPERATOR_NAMESPACE = "operators"
NAMESPACED = ConnectionKind.SNYK_CONNECTION
CLUSTER = ConnectionKind.CLUSTER_SNYK_CONNECTION


@pytest.fixture
async def connections(world: World) -> AsyncIterator[Connections]:
    made = Connections(objects=world.objects, secrets=world.secrets, operator_namespace=OPERATOR_NAMESPACE)
    try:
        yield made
    finally:
        await made.aclose()  # every client built here is closed, whatever the test did


def add_connection(
    world: World,
    name: str = "snyk",
    *,
    cluster: bool = False,
    secret: str = "snyk-api",
    key: str | None = None,
    **spec: Any,
) -> None:
    ref: dict[str, str] = {"name": secret, **({"key": key} if key else {})}
    body = {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "ClusterSnykConnection" if cluster else "SnykConnection",
        "metadata": {"name": name, "generation": 1, **({} if cluster else {"namespace": NAMESPACE})},
        "spec": {"apiTokenSecretRef": ref, **(spec or {"apiUrl": "http://127.0.0.1:9"})},
    }
    world.objects.put(CLUSTER_SNYK_CONNECTION_PLURAL if cluster else SNYK_CONNECTION_PLURAL, body)


def add_key(
    world: World, value: str, *, name: str = "snyk-api", namespace: str = NAMESPACE, key: str = "apiToken"
) -> None:
    world.secrets.put(opaque_secret(name, {key: value}, namespace=namespace))


async def unusable(connections: Connections, kind: ConnectionKind = NAMESPACED) -> ConnectionUnusable:
    with pytest.raises(ConnectionUnusable) as raised:
        await connections.client_for(kind=kind, name="snyk", namespace=NAMESPACE)
    return raised.value


async def test_a_region_names_its_api(world: World, connections: Connections) -> None:
    add_connection(world, region="SNYK-EU-01")
    add_key(world, "key-1")

    client = await connections.client_for(kind=NAMESPACED, name="snyk", namespace=NAMESPACE)

    assert client.base_url.rstrip("/") == "https://api.eu.snyk.io/v1"


async def test_a_missing_connection_is_not_found_and_says_where_it_was_looked_for(
    world: World, connections: Connections
) -> None:
    error = await unusable(connections)

    assert error.reason is ConditionReason.CONNECTION_NOT_FOUND
    assert error.message == "SnykConnection 'snyk' not found in namespace 'ns'"
    assert (await unusable(connections, CLUSTER)).message == "ClusterSnykConnection 'snyk' not found"


async def test_an_invalid_connection_is_not_ready_and_counts_its_errors(world: World, connections: Connections) -> None:
    add_connection(world, region="SNYK-EU-01", apiUrl="https://api.snyk.io")  # both: refused by the models

    error = await unusable(connections)

    assert error.reason is ConditionReason.CONNECTION_NOT_READY
    assert error.message == "SnykConnection 'snyk' is invalid: 1 error(s)"


async def test_a_missing_api_token_secret_is_not_ready(world: World, connections: Connections) -> None:
    add_connection(world)

    error = await unusable(connections)

    assert error.reason is ConditionReason.CONNECTION_NOT_READY
    assert error.message == "SnykConnection 'snyk': API token Secret 'snyk-api' not found in namespace 'ns'"


@pytest.mark.parametrize("value", ["", None], ids=["an empty key", "no such key"])
async def test_a_secret_without_the_key_is_not_ready(world: World, connections: Connections, value: str | None) -> None:
    add_connection(world, key="token")
    add_key(world, "key-1", key="apiToken")  # under another key
    if value is not None:
        add_key(world, value, key="token")

    error = await unusable(connections)

    assert error.message == "SnykConnection 'snyk': Secret 'snyk-api' has no key 'token'"


async def test_a_cluster_connection_reads_its_secret_only_from_the_operators_namespace(
    world: World, connections: Connections
) -> None:
    add_connection(world, cluster=True)
    add_key(world, "key-in-user-namespace")  # in the BrokerToken's namespace: never read for a cluster connection

    error = await unusable(connections, CLUSTER)
    assert "not found in namespace 'operators'" in error.message

    add_key(world, "key-1", namespace=OPERATOR_NAMESPACE)
    client = await connections.client_for(kind=CLUSTER, name="snyk", namespace=NAMESPACE)
    assert isinstance(client, SnykClient)


async def test_one_client_is_kept_per_key_and_shared_by_connections_using_it(
    world: World, connections: Connections
) -> None:
    add_connection(world, "first", secret="key-a")
    add_connection(world, "second", secret="key-a")
    add_connection(world, "third", secret="key-b")
    add_key(world, "shared-key", name="key-a")
    add_key(world, "other-key", name="key-b")

    first = await connections.client_for(kind=NAMESPACED, name="first", namespace=NAMESPACE)
    second = await connections.client_for(kind=NAMESPACED, name="second", namespace=NAMESPACE)
    third = await connections.client_for(kind=NAMESPACED, name="third", namespace=NAMESPACE)

    assert isinstance(first, SnykClient) and first.base_url.rstrip("/") == "http://127.0.0.1:9/v1"
    assert first is second  # one client and one limiter per key: Snyk's limit belongs to the key
    assert first.limiter is second.limiter
    assert third is not first and third.limiter is not first.limiter


async def test_a_client_whose_key_no_connection_uses_any_more_is_closed_and_forgotten(
    world: World, connections: Connections
) -> None:
    add_connection(world, "first", secret="s1")
    add_connection(world, "second", secret="s2")
    add_key(world, "old-key", name="s1")
    add_key(world, "old-key", name="s2")

    async def client(name: str) -> SnykClient:
        return await connections.client_for(kind=NAMESPACED, name=name, namespace=NAMESPACE)

    old = await client("first")
    assert await client("second") is old

    add_key(world, "new-key", name="s1")  # the first connection's key was rotated
    new = await client("first")
    assert new is not old
    assert await client("second") is old  # still in use by the second: kept open

    add_key(world, "new-key", name="s2")
    assert await client("second") is new
    # Nobody uses the old key now: its client was closed (it refuses to send, without any network) and forgotten.
    with pytest.raises(RuntimeError, match="closed"):
        await old.check_credentials()
    add_key(world, "old-key", name="s1")
    assert await client("first") not in (old, new)

    await connections.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await new.check_credentials()
    assert await client("second") is not new  # closing forgot every client: the next request builds one
