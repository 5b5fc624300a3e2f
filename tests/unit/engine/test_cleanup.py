"""`cleanup.release_secret`: on deletion, the consumer Secret is kept without its owner (Retain) or deleted (Delete);
a Secret this BrokerToken does not control is never touched, and no Snyk call is ever made."""

from __future__ import annotations

import pytest

from snyk_broker_operator.engine import cleanup
from support.fakes import NAME, NAMESPACE, UID, Call, CallLog, World, broker_token, opaque_secret

TOKEN = "4a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a"


async def test_retain_keeps_the_secret_and_drops_only_this_broker_tokens_owner_reference(world: World) -> None:
    await world.provisioned()
    token = world.secrets.token(NAME)
    mark = world.log.mark()

    await cleanup.release_secret(world.body(), world.deps())

    secret = world.secrets.get(NAMESPACE, NAME)
    assert secret is not None and world.secrets.token(NAME) == token
    assert "ownerReferences" not in secret["metadata"]  # the garbage collector now leaves it alone
    assert CallLog.writes(world.log.since(mark)) == [Call("secrets.orphan", NAME)]


async def test_delete_removes_the_secret(world: World) -> None:
    await world.provisioned(deletionPolicy="Delete")
    asked = len(world.snyk.ledger)

    await cleanup.release_secret(world.body(), world.deps())

    assert world.secrets.get(NAMESPACE, NAME) is None
    assert len(world.snyk.ledger) == asked  # deletion never waits on Snyk


@pytest.mark.parametrize(
    "owner_uid",
    [pytest.param("someone-else", id="controlled by another BrokerToken"), pytest.param(None, id="owned by nobody")],
)
@pytest.mark.parametrize("policy", ["Retain", "Delete"])
async def test_a_secret_this_broker_token_does_not_control_is_left_untouched(
    world: World, owner_uid: str | None, policy: str
) -> None:
    world.secrets.put(opaque_secret(NAME, {"BROKER_TOKEN": TOKEN}, owner_uid=owner_uid))
    before = world.secrets.get(NAMESPACE, NAME)
    mark = world.log.mark()

    await cleanup.release_secret(broker_token(deletionPolicy=policy), world.deps())

    assert world.secrets.get(NAMESPACE, NAME) == before
    assert CallLog.writes(world.log.since(mark)) == []


async def test_a_missing_secret_or_an_invalid_object_releases_nothing(world: World) -> None:
    mark = world.log.mark()

    await cleanup.release_secret(broker_token(uid=UID), world.deps())
    await cleanup.release_secret(broker_token(org_id="not-a-uuid"), world.deps())

    assert CallLog.writes(world.log.since(mark)) == []
    # The invalid one is not even read: the operator never wrote a Secret for a spec it could not read.
    assert [c.op for c in world.log.since(mark)] == ["secrets.read"]
