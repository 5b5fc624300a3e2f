"""`connection_check.check`: one GET /user/me when a check is due, its result written to the connection's status
once; a recent check for the same generation is trusted without calling Snyk."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from snyk_broker_operator.adapters.kube.errors import Unavailable
from snyk_broker_operator.adapters.snyk import AuthenticationError, CallContext, RateLimitedError, SnykCall
from snyk_broker_operator.engine import connection_check
from snyk_broker_operator.engine.connections import Connections
from snyk_broker_operator.models import CLUSTER_SNYK_CONNECTION_PLURAL, SNYK_CONNECTION_PLURAL
from snyk_broker_operator.models.enums import ConnectionKind
from support.fakes import NAMESPACE, Call, World, kube_error

CHECK = CallContext(SnykCall.CHECK_CREDENTIALS)


def connection(
    name: str = "snyk", *, cluster: bool = False, generation: int = 1, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "ClusterSnykConnection" if cluster else "SnykConnection",
        "metadata": {"name": name, "generation": generation, **({} if cluster else {"namespace": NAMESPACE})},
        "spec": {"apiUrl": "http://127.0.0.1:9", "apiTokenSecretRef": {"name": "snyk-api"}},
    }
    if status is not None:
        body["status"] = status
    return body


def stored(world: World, *, cluster: bool = False, **options: Any) -> dict[str, Any]:
    body = connection(cluster=cluster, **options)
    world.objects.put(CLUSTER_SNYK_CONNECTION_PLURAL if cluster else SNYK_CONNECTION_PLURAL, body)
    return body


def ready_of(world: World, *, cluster: bool = False) -> dict[str, Any]:
    plural = CLUSTER_SNYK_CONNECTION_PLURAL if cluster else SNYK_CONNECTION_PLURAL
    body = world.objects.get(plural, "snyk", namespace=None if cluster else NAMESPACE) or {}
    (ready,) = [c for c in body["status"]["conditions"] if c["type"] == "Ready"]
    return dict(ready)


@pytest.mark.parametrize("cluster", [False, True], ids=["a SnykConnection", "a ClusterSnykConnection"])
async def test_working_credentials_make_the_connection_ready_for_fifteen_minutes(world: World, cluster: bool) -> None:
    body = stored(world, cluster=cluster)
    kind = ConnectionKind.CLUSTER_SNYK_CONNECTION if cluster else ConnectionKind.SNYK_CONNECTION

    delay, ready = await connection_check.check(body, kind, world.deps())

    assert (delay, ready) == (900.0, True)
    assert ready_of(world, cluster=cluster)["status"] == "True"
    assert (
        ready_of(world, cluster=cluster)["message"]
        == f"credentials work; the API key sees {len(world.snyk.orgs)} org(s)"
    )
    assert [entry.call for entry in world.snyk.ledger] == ["check_credentials"]


async def test_a_recent_check_of_the_same_generation_is_trusted_without_calling_snyk(world: World) -> None:
    body = stored(world)
    await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())
    checked = world.objects.get(SNYK_CONNECTION_PLURAL, "snyk") or {}
    await world.time.sleep(300)
    mark = world.log.mark()

    delay, ready = await connection_check.check(checked, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert (delay, ready) == (600.0, True)
    assert world.log.since(mark) == [] and len(world.snyk.ledger) == 1


async def test_a_changed_spec_is_checked_again_at_once(world: World) -> None:
    stored(world)
    await connection_check.check(connection(), ConnectionKind.SNYK_CONNECTION, world.deps())
    checked = world.objects.get(SNYK_CONNECTION_PLURAL, "snyk") or {}
    checked["metadata"]["generation"] = 2

    await connection_check.check(checked, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert len(world.snyk.ledger) == 2


async def test_a_refused_key_stalls_the_connection_and_is_checked_again_in_a_minute(world: World) -> None:
    body = stored(world)
    world.snyk.fail_next(SnykCall.CHECK_CREDENTIALS, AuthenticationError(CHECK, status_code=401))

    delay, ready = await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert (delay, ready) == (60.0, False)
    assert (ready_of(world)["status"], ready_of(world)["reason"]) == ("False", "AuthenticationFailed")


async def test_snyk_rate_limiting_the_check_is_retried_rather_than_stalled(world: World) -> None:
    body = stored(world)
    world.snyk.fail_next(SnykCall.CHECK_CREDENTIALS, RateLimitedError(CHECK, retry_after=3.0))

    _, ready = await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert ready is False and ready_of(world)["reason"] == "RateLimited"


async def test_a_missing_api_token_secret_is_reported_without_any_network_call(world: World) -> None:
    body = stored(world)
    connections = Connections(objects=world.objects, secrets=world.secrets, operator_namespace="operators")
    deps = dataclasses.replace(world.deps(), connections=connections)

    delay, ready = await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, deps)

    assert (delay, ready) == (60.0, False)
    assert ready_of(world)["reason"] == "ConnectionNotReady"
    assert "API token Secret 'snyk-api' not found in namespace 'ns'" in ready_of(world)["message"]
    await connections.aclose()


async def test_an_api_server_that_cannot_answer_is_retried(world: World) -> None:
    body = stored(world)
    world.log.fail_next("connections.client_for", kube_error(Unavailable))

    _, ready = await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert ready is False and ready_of(world)["reason"] == "KubernetesError"


async def test_an_invalid_connection_is_reported_stalled_and_never_checked(world: World) -> None:
    body = stored(world)
    body["spec"] = {"apiTokenSecretRef": {"name": "snyk-api"}}  # neither region nor apiUrl
    body["status"] = {"checkedAt": "not a time"}  # unreadable too: reported from scratch

    delay, ready = await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert (delay, ready) == (60.0, False)
    assert ready_of(world)["reason"] == "InvalidSpec"
    assert world.snyk.ledger == []


async def test_an_invalid_connection_already_reported_is_not_written_again(world: World) -> None:
    body = stored(world)
    body["spec"] = {"apiTokenSecretRef": {"name": "snyk-api"}}
    world.objects.put(SNYK_CONNECTION_PLURAL, body)
    await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())
    reported = world.objects.get(SNYK_CONNECTION_PLURAL, "snyk") or {}
    await world.time.sleep(60)

    await connection_check.check(reported, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert len(world.objects.status_patches) == 1


async def test_a_connection_deleted_meanwhile_is_not_reported_on(world: World) -> None:
    delay, ready = await connection_check.check(connection(), ConnectionKind.SNYK_CONNECTION, world.deps())

    assert (delay, ready) == (900.0, True)
    assert world.log.refused == [Call("objects.patch_status", "snyk")]


async def test_an_unexpected_error_during_the_check_is_a_bug_and_propagates(world: World) -> None:
    world.log.fail_next("connections.client_for", RuntimeError("a bug"))

    with pytest.raises(RuntimeError, match="a bug"):
        await connection_check.check(stored(world), ConnectionKind.SNYK_CONNECTION, world.deps())


async def test_a_recent_failed_check_is_retried_after_a_minute_not_fifteen(world: World) -> None:
    body = stored(world)
    world.snyk.fail_next(SnykCall.CHECK_CREDENTIALS, AuthenticationError(CHECK, status_code=401))
    await connection_check.check(body, ConnectionKind.SNYK_CONNECTION, world.deps())
    checked = world.objects.get(SNYK_CONNECTION_PLURAL, "snyk") or {}
    await world.time.sleep(timedelta(seconds=20).total_seconds())

    delay, ready = await connection_check.check(checked, ConnectionKind.SNYK_CONNECTION, world.deps())

    assert (delay, ready) == (40.0, False) and len(world.snyk.ledger) == 1
