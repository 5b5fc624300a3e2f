"""In-process twins of the SIGKILL crash test (tests/integration/test_rotation_crash.py): a rotation stopped at each
of its crash points completes on the next passes with one provisioned token, and that token is never lost.

The crash is a `Dependencies.failpoint` hook that raises at the named point; the "restart" is a fresh Dependencies
on the same fakes (the cluster and Snyk survive a crash, the operator's memory does not), without the hook.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters.snyk import SnykCall
from snyk_broker_operator.engine import failpoints
from snyk_broker_operator.engine.ports import Failpoint
from snyk_broker_operator.models import fingerprint_of
from support.fakes import GITHUB, NAME, ORG_B, World

CONSUMERS = ("crash-a", "crash-b")
ROTATION = f"{NAME}-snykbroker-rotation"
CUSTODY = f"{NAME}-snykbroker-custody"
# The crash points of the SIGKILL test's parametrization, in rotation order.
SIGKILL_TEST_POINTS = ("after-provision", "after-bridges", "after-switch", "mid-rollout")


class Killed(BaseException):
    """The stand-in for SIGKILL. A BaseException, so that no `except Exception` in the engine can handle it: like
    the real kill, nothing after the crash point runs in that pass."""


def kill_at(point: str, reached: list[str]) -> Failpoint:
    def hook(name: str) -> None:
        reached.append(name)
        if name == point:
            raise Killed(name)

    return hook


def token_of(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def assert_stopped_where_expected(world: World, point: str, *, old: str) -> None:
    """The twin of the SIGKILL test's check: what the fakes show right after the crash tells where it happened."""
    integration = world.snyk.integrations[GITHUB]
    provisional = world.secrets.token(ROTATION)
    assert provisional is not None, "the rotation Secret does not hold the provisional token"
    bridges = {name for name in world.workloads.names() if name.endswith("-snykbroker-bridge")}
    if point in {"after-provision", "after-bridges"}:
        assert world.snyk.switched == [] and token_of(integration.token) == old
        assert token_of(integration.provisional) == provisional
        assert len(bridges) == (0 if point == "after-provision" else len(CONSUMERS))
    else:
        assert token_of(integration.token) == provisional
    if point == "after-switch":
        assert world.secrets.token(NAME) == old and world.secrets.token(CUSTODY, key="token") == old
    if point == "mid-rollout":
        assert world.secrets.token(NAME) == provisional
        fingerprints = {
            ((world.workloads.get(name) or {})["spec"]["template"]["metadata"].get("annotations") or {}).get(
                "snykbroker.dev/token-fingerprint"
            )
            for name in CONSUMERS
        }
        assert fingerprint_of(SecretStr(provisional)) in fingerprints


def test_every_crash_point_of_the_engine_has_a_twin_here() -> None:
    assert failpoints.NAMES == SIGKILL_TEST_POINTS


@pytest.mark.parametrize("point", SIGKILL_TEST_POINTS)
async def test_a_rotation_stopped_at_a_crash_point_completes_with_one_provisioned_token_and_none_lost(
    world: World, point: str
) -> None:
    before = await world.provisioned(consumers=CONSUMERS)
    old = world.secrets.token(NAME)
    assert old is not None
    world.request_rotation(f"crash-{point}")
    reached: list[str] = []

    with pytest.raises(Killed):
        await world.settle(world.deps(failpoint=kill_at(point, reached)))

    assert reached[-1] == point
    assert_stopped_where_expected(world, point, old=old)

    await world.settle(world.deps())  # the restart: same cluster, same Snyk, no failpoint

    current = token_of(world.snyk.integrations[GITHUB].token)
    assert current is not None and current != old
    assert len(world.snyk.calls(SnykCall.PROVISION_TOKEN)) == 1
    assert [entry.result for entry in world.snyk.calls(SnykCall.SWITCH_TOKEN)].count("ok") == 1
    provisionals = [token.get_secret_value() for kind, token in world.snyk.issued if kind == "provisional"]
    assert provisionals == [current], "a provisional token was issued and then lost"
    assert [token.get_secret_value() for token in world.snyk.switched] == [current]
    assert world.secrets.token(CUSTODY, key="token") == current
    assert world.secrets.token(NAME) == current
    status = world.status()
    assert status["tokenFingerprint"] == fingerprint_of(SecretStr(current))
    assert status["revision"] == before["revision"] + 1
    assert all(state == "Current" for state in (c["state"] for c in status["consumers"]))
    assert ROTATION not in world.secrets.names()
    assert not any(name.endswith("-snykbroker-bridge") for name in world.workloads.names())
    assert all(token_of(i.token) != old for i in world.snyk.integrations.values()), "Snyk still routes the old token"


async def test_a_share_whose_clone_answer_was_lost_to_a_crash_is_recorded_as_ours_after_the_restart(
    world: World,
) -> None:
    world.add_broker_token(shareWith=[{"orgId": ORG_B}])
    world.snyk.fail_next(SnykCall.CLONE_INTEGRATION, Killed("after the clone"), applied=True)

    with pytest.raises(Killed):
        await world.settle()
    await world.settle(world.deps())  # the restart: the clone happened at Snyk, the operator never heard of it

    (entry,) = world.status()["sharedWith"]
    assert (entry["state"], entry["integrationId"]) == ("Shared", world.snyk.orgs[ORG_B]["github"])
    assert len(world.snyk.calls(SnykCall.CLONE_INTEGRATION)) == 1
    assert "ShareConflict" not in world.events.reasons()
