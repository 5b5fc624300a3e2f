"""The port fakes keep the Kubernetes and Snyk semantics the engine tests rely on; if a fake drifted, the engine
tests would prove things about a world that does not exist."""

from __future__ import annotations

import pytest

from snyk_broker_operator.adapters.kube.errors import Conflict, NotFound
from snyk_broker_operator.adapters.snyk import (
    CallContext,
    NothingToSwitchError,
    ProvisionalTokenOutstandingError,
    SnykCall,
    UnavailableError,
)
from support.fakes import (
    GITHUB,
    NAMESPACE,
    ORG,
    ORG_B,
    UID,
    Call,
    World,
    consumer_deployment,
    merge_patch,
    opaque_secret,
)


async def test_the_secret_store_refuses_a_second_create_copies_on_read_orphans_and_deletes_idempotently(
    world: World,
) -> None:
    secrets = world.secrets
    body = opaque_secret("s", {"k": "v"}, owner_uid=UID)
    await secrets.create(body)
    with pytest.raises(Conflict):
        await secrets.create(body)
    read = await secrets.read(NAMESPACE, "s")
    assert read is not None
    read["data"]["k"] = "Y2hhbmdlZA=="  # a copy: the store is not aliased
    assert secrets.token("s", key="k") == "v"
    await secrets.orphan(NAMESPACE, "s", "someone-else")
    assert (secrets.get(NAMESPACE, "s") or {})["metadata"]["ownerReferences"][0]["uid"] == UID
    await secrets.orphan(NAMESPACE, "s", UID)
    assert "ownerReferences" not in (secrets.get(NAMESPACE, "s") or {})["metadata"]
    await secrets.delete(NAMESPACE, "s")
    await secrets.delete(NAMESPACE, "s")
    assert await secrets.read(NAMESPACE, "s") is None
    assert world.log.refused == [Call("secrets.create", "s")]


async def test_a_pod_template_change_bumps_the_generation_and_the_controller_catches_up(world: World) -> None:
    workloads = world.workloads
    workloads.add(consumer_deployment("app"))

    for _ in range(2):  # the same value twice: one change
        await workloads.set_template_annotation(kind="Deployment", namespace=NAMESPACE, name="app", key="k", value="v")

    (listed,) = await workloads.list(NAMESPACE)
    assert listed["kind"] == "Deployment" and listed["metadata"]["generation"] == 2
    assert listed["status"]["observedGeneration"] == 1  # not rolled out until the controller says so
    workloads.roll_out("app")
    assert (workloads.get("app") or {})["status"]["observedGeneration"] == 2
    with pytest.raises(NotFound):
        await workloads.set_template_annotation(kind="StatefulSet", namespace=NAMESPACE, name="app", key="k", value="v")
    await workloads.delete_deployment(NAMESPACE, "app")
    await workloads.delete_deployment(NAMESPACE, "app")
    assert await workloads.list(NAMESPACE) == []


def test_a_merge_patch_merges_objects_deletes_on_null_and_replaces_lists() -> None:
    stored = {"a": 1, "nested": {"keep": 1, "drop": 2}, "list": [1, 2]}

    patched = merge_patch(stored, {"a": None, "nested": {"drop": None, "new": 3}, "list": [3]})

    assert patched == {"nested": {"keep": 1, "new": 3}, "list": [3]}


async def test_snyk_enables_one_token_per_integration_and_allows_one_provisional_token_per_group(
    world: World,
) -> None:
    snyk = world.snyk
    enabled = await snyk.enable_broker(org_id=ORG, integration_id=GITHUB, integration_type="github")
    again = await snyk.enable_broker(org_id=ORG, integration_id=GITHUB, integration_type="github")
    assert enabled.token == again.token
    clone = await snyk.clone_integration(org_id=ORG, integration_id=GITHUB, destination_org_id=ORG_B)

    provisional = await snyk.provision_token(org_id=ORG, integration_id=GITHUB)
    with pytest.raises(ProvisionalTokenOutstandingError):
        await snyk.provision_token(org_id=ORG, integration_id=GITHUB)
    await snyk.switch_token(org_id=ORG, integration_id=GITHUB)
    with pytest.raises(NothingToSwitchError):
        await snyk.switch_token(org_id=ORG, integration_id=GITHUB)

    # The switch moved every integration sharing the old token, the clone too.
    assert snyk.integrations[GITHUB].token == provisional.token == snyk.integrations[clone].token
    assert [entry.result for entry in snyk.calls(SnykCall.PROVISION_TOKEN)] == [
        "ok",
        "ProvisionalTokenOutstandingError",
    ]


async def test_an_injected_snyk_error_is_raised_once_before_or_after_the_call_takes_effect(world: World) -> None:
    snyk = world.snyk
    down = UnavailableError(CallContext(SnykCall.PROVISION_TOKEN))
    await snyk.enable_broker(org_id=ORG, integration_id=GITHUB, integration_type="github")
    snyk.fail_next(SnykCall.PROVISION_TOKEN, down)
    snyk.fail_next(SnykCall.PROVISION_TOKEN, down, applied=True)

    with pytest.raises(UnavailableError):
        await snyk.provision_token(org_id=ORG, integration_id=GITHUB)
    assert snyk.integrations[GITHUB].provisional is None  # refused before it happened
    with pytest.raises(UnavailableError):
        await snyk.provision_token(org_id=ORG, integration_id=GITHUB)
    assert snyk.integrations[GITHUB].provisional is not None  # it happened; the answer was lost
