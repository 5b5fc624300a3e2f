"""A requested rotation, pass by pass on the port fakes: what is persisted before each Snyk call, where a pass stops
to wait for the cluster, and the order Bridge and InPlace take their steps in."""

from __future__ import annotations

from pydantic import SecretStr

from snyk_broker_operator.adapters.kube.errors import Unavailable
from snyk_broker_operator.adapters.snyk import AmbiguousError, CallContext, ProvisionalToken, SnykCall
from snyk_broker_operator.models import fingerprint_of
from support.fakes import GITHUB, NAME, ORG_D_GITHUB, Call, CallLog, World, opaque_secret

ROTATION = f"{NAME}-snykbroker-rotation"
CUSTODY = f"{NAME}-snykbroker-custody"
BRIDGE = "app-snykbroker-bridge"


def provisional_of(world: World) -> str:
    token = world.snyk.integrations[GITHUB].provisional
    assert token is not None, "Snyk holds no provisional token for the integration"
    return token.get_secret_value()


def fingerprint(token: str) -> str:
    return fingerprint_of(SecretStr(token))


def routed(world: World) -> str:
    token = world.snyk.integrations[GITHUB].token
    assert token is not None
    return token.get_secret_value()


async def test_a_bridge_rotation_persists_each_step_before_the_next_and_waits_for_the_cluster_between_them(
    world: World,
) -> None:
    before = await world.provisioned(consumers=["app"])
    old = world.secrets.token(NAME)
    world.request_rotation("2026-01-01T01:00:00Z")

    # Pass 1: the record, the provisional token, the bridges; then the pass ends: the bridges' pods must start.
    mark = world.log.mark()
    first = await world.run_pass()
    entries = world.log.since(mark)
    provision = entries.index(Call("snyk.provision_token", GITHUB))
    assert entries.index(Call("secrets.create", ROTATION)) < provision, "no rotation record before the provision"
    assert entries[provision + 1] == Call("secrets.apply", ROTATION), "the provisional token was not persisted next"
    provisional = provisional_of(world)
    assert world.secrets.token(ROTATION) == provisional
    assert Call("workloads.apply_deployment", BRIDGE) in entries
    assert CallLog.snyk(entries) == [Call("snyk.provision_token", GITHUB)]
    assert first.outcome == "waiting"
    assert world.status()["rotation"]["phase"] == "Bridging"
    assert world.status()["rotation"]["provisionalFingerprint"] == fingerprint(provisional)
    assert world.secrets.token(NAME) == old and routed(world) == old

    # Pass 2: the bridge is not available yet, so nothing is switched (and nothing changed to write).
    mark = world.log.mark()
    await world.run_pass()
    assert CallLog.snyk(world.log.since(mark)) == [] and CallLog.writes(world.log.since(mark)) == []

    # Pass 3: the bridge runs the new token; switch, then promote, then the consumer Secret; the roll waits.
    world.workloads.roll_out(BRIDGE)
    mark = world.log.mark()
    third = await world.run_pass()
    entries = world.log.since(mark)
    switch = entries.index(Call("snyk.switch_token", GITHUB))
    promote = entries.index(Call("secrets.apply", CUSTODY))
    assert switch < promote < entries.index(Call("secrets.apply", NAME))
    assert routed(world) == provisional and world.snyk.switched == [SecretStr(provisional)]
    assert world.secrets.token(CUSTODY, key="token") == provisional == world.secrets.token(NAME)
    assert world.status()["rotation"]["phase"] == "RollingOut"
    assert {"BridgeReady", "TokenSwitched"} <= set(world.events.reasons())
    assert third.outcome == "waiting"

    # Pass 4: the token has settled; the consumer rolls onto it.
    await world.time.sleep(third.delay)
    mark = world.log.mark()
    await world.run_pass()
    assert Call("workloads.set_template_annotation", "app") in world.log.since(mark)
    assert BRIDGE in world.workloads.names()  # still serving until the consumer runs the new token

    # Pass 5: the consumer runs the new token: the bridge and the record go.
    world.workloads.roll_out("app")
    await world.run_pass()
    assert BRIDGE not in world.workloads.names() and ROTATION not in world.secrets.names()
    status = world.status()
    assert "rotation" not in status
    assert status["revision"] == before["revision"] + 1
    assert status["tokenFingerprint"] == fingerprint(provisional)
    assert status["lastRotateRequest"] == "2026-01-01T01:00:00Z"
    assert world.events.reasons()[-1] == "RolloutCompleted" and "RotationCompleted" in world.events.reasons()

    # Pass 6: done, and quiet.
    mark = world.log.mark()
    await world.run_pass()
    assert CallLog.writes(world.log.since(mark)) == [] and CallLog.snyk(world.log.since(mark)) == []
    assert len(world.snyk.calls(SnykCall.PROVISION_TOKEN)) == 1


async def test_an_in_place_rotation_runs_no_bridge_and_rolls_the_consumers_before_it_switches(world: World) -> None:
    await world.provisioned(consumers=["app"], rotation={"strategy": "InPlace"})
    world.request_rotation("now")
    mark = world.log.mark()

    await world.settle()

    entries = world.log.since(mark)
    assert not any(call.op == "workloads.apply_deployment" for call in entries)
    provision = entries.index(Call("snyk.provision_token", GITHUB))
    promote = entries.index(Call("secrets.apply", CUSTODY), provision)
    roll = entries.index(Call("workloads.set_template_annotation", "app"))
    switch = entries.index(Call("snyk.switch_token", GITHUB))
    assert provision < promote < roll < switch
    new = world.secrets.token(NAME)
    assert new is not None and routed(world) == new == world.secrets.token(CUSTODY, key="token")
    assert ROTATION not in world.secrets.names()


async def test_a_provisional_token_outstanding_elsewhere_in_the_group_stalls_the_rotation_until_it_is_gone(
    world: World,
) -> None:
    await world.provisioned(consumers=["app"])
    world.snyk.provision_outstanding(ORG_D_GITHUB)  # someone else, in another org of the Group
    world.request_rotation("now")

    await world.run_pass()

    assert world.condition("Stalled")["reason"] == "ProvisionalTokenOutstanding"
    assert world.events.reasons()[-3:] == ["RotationStarted", "ProvisionalTokenOutstanding", "RotationFailed"]
    assert world.secrets.token(ROTATION) is None  # the record says: a provision may have been asked for
    first_message = world.condition("Stalled")["message"]
    assert "got no answer" not in first_message  # Snyk said no before issuing anything: not ours
    await world.time.sleep(60)
    await world.run_pass()
    assert world.events.reasons()[-1] == "RotationFailed"  # not recorded a second time
    assert world.condition("Stalled")["message"] == first_message

    world.snyk.integrations[ORG_D_GITHUB].provisional = None  # they switched
    await world.time.sleep(60)
    await world.settle()

    assert [entry.result for entry in world.snyk.calls(SnykCall.PROVISION_TOKEN)] == [
        "ProvisionalTokenOutstandingError",
        "ProvisionalTokenOutstandingError",
        "ok",
    ]
    assert world.secrets.token(NAME) == routed(world) and ROTATION not in world.secrets.names()


async def test_a_provision_whose_answer_was_lost_stalls_with_what_happened_and_resumes_once_snyk_clears_it(
    world: World,
) -> None:
    await world.provisioned(consumers=["app"])
    current = world.secrets.token(NAME)
    lost = AmbiguousError(CallContext(SnykCall.PROVISION_TOKEN, org_id="org", integration_id=GITHUB))
    world.snyk.fail_next(SnykCall.PROVISION_TOKEN, lost, applied=True)  # issued in Snyk, the answer never came
    world.request_rotation("now")

    await world.run_pass()
    await world.time.sleep(60)
    await world.run_pass()

    stalled = world.condition("Stalled")
    assert stalled["reason"] == "ProvisionalTokenOutstanding"
    assert "provision-token call of" in stalled["message"] and "got no answer" in stalled["message"]
    assert repr(ROTATION) in stalled["message"]
    assert world.secrets.token(NAME) == current == routed(world)  # the consumers keep a token Snyk accepts

    world.snyk.integrations[GITHUB].provisional = None  # cleared in Snyk, as the message asks
    await world.time.sleep(600)
    await world.settle()

    assert [entry.result for entry in world.snyk.calls(SnykCall.PROVISION_TOKEN)] == [
        "AmbiguousError",
        "ProvisionalTokenOutstandingError",
        "ok",
    ]
    new = world.secrets.token(NAME)
    assert new is not None and new != current and routed(world) == new
    assert ROTATION not in world.secrets.names()


async def test_a_provisional_token_the_api_server_would_not_store_is_saved_next_pass_without_a_second_provision(
    world: World,
) -> None:
    await world.provisioned(consumers=["app"])
    provision = world.snyk.provision_token

    async def provision_then_lose_the_api_server(**call: str) -> ProvisionalToken:
        granted = await provision(**call)
        down = Unavailable(status=503, reason="ServiceUnavailable", message="etcd is restarting")
        world.log.fail_next("secrets.apply", down, subject=ROTATION)  # the write of the answer fails
        return granted

    world.snyk.provision_token = provision_then_lose_the_api_server  # type: ignore[method-assign]
    world.request_rotation("now")
    await world.run_pass()
    assert world.secrets.token(ROTATION) is None  # Snyk issued it; the cluster does not have it yet
    world.snyk.provision_token = provision  # type: ignore[method-assign]

    await world.time.sleep(30)
    await world.settle()

    assert [entry.result for entry in world.snyk.calls(SnykCall.PROVISION_TOKEN)] == ["ok"]
    assert [token.get_secret_value() for token in world.snyk.switched] == [world.secrets.token(NAME)]
    assert routed(world) == world.secrets.token(NAME) and ROTATION not in world.secrets.names()


async def test_the_status_says_since_when_the_rotation_is_in_its_phase(world: World) -> None:
    await world.provisioned(consumers=["app"])
    world.request_rotation("now")
    await world.run_pass()
    waiting = world.status()["rotation"]
    assert waiting["phase"] == "Bridging" and waiting["phaseSince"] == waiting["startedAt"]

    await world.time.sleep(30)
    await world.run_pass()
    assert world.status()["rotation"]["phaseSince"] == waiting["phaseSince"]  # still waiting for the bridge

    world.workloads.roll_out(BRIDGE)
    await world.time.sleep(30)
    await world.run_pass()
    moved = world.status()["rotation"]
    assert moved["phase"] != "Bridging" and moved["phaseSince"] > waiting["phaseSince"]


async def test_a_bridge_that_cannot_start_stalls_the_switch_and_the_rotation_resumes_once_it_runs(
    world: World,
) -> None:
    await world.provisioned(consumers=["app"])
    world.request_rotation("now")
    await world.run_pass()
    provisional = provisional_of(world)

    world.workloads.exceed_progress_deadline(BRIDGE)
    result = await world.run_pass()

    assert world.condition("Stalled")["reason"] == "BridgeUnavailable"
    assert result.delay == 2.0  # polled, not backed off: the pods may yet start
    assert world.snyk.calls(SnykCall.SWITCH_TOKEN) == []
    world.workloads.roll_out(BRIDGE)
    await world.settle()
    assert routed(world) == provisional == world.secrets.token(NAME)


async def test_a_leftover_rotation_secret_the_operator_cannot_read_is_replaced_by_a_new_record(world: World) -> None:
    await world.provisioned(consumers=["app"])  # a consumer, so that the pass stops at the bridges
    world.secrets.put(opaque_secret(ROTATION, {"BROKER_TOKEN": "not-a-record"}))
    world.request_rotation("now")
    mark = world.log.mark()

    await world.run_pass()

    # The create finds the Secret there and applies over it instead.
    assert Call("secrets.create", ROTATION) in world.log.refused
    assert world.log.since(mark).count(Call("secrets.apply", ROTATION)) >= 1
    assert world.secrets.token(ROTATION) == provisional_of(world)


async def test_a_rotation_with_no_consumer_bridges_nothing_and_completes_in_one_pass(world: World) -> None:
    await world.provisioned()
    world.request_rotation("now")

    result = await world.run_pass()

    assert result.outcome == "converged"
    assert routed(world) == world.secrets.token(NAME) == world.secrets.token(CUSTODY, key="token")
    assert ROTATION not in world.secrets.names()
    assert world.events.reasons()[-3:] == ["TokenSwitched", "SecretRestored", "RotationCompleted"]
