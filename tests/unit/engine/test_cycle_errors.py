"""How a pass ends when Snyk, the API server or the object itself is the problem: a status that says what happened
and a delay before the next attempt, never an exception (only a bug propagates) and never a traceback."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

import pytest

from snyk_broker_operator.adapters.kube.errors import Forbidden, KubeError, Unavailable
from snyk_broker_operator.adapters.snyk import AuthenticationError, CallContext, RateLimitedError, SnykCall
from snyk_broker_operator.engine import cycle
from snyk_broker_operator.engine.connections import Connections
from snyk_broker_operator.engine.outcomes import ConnectionUnusable
from snyk_broker_operator.models import BROKER_TOKEN_PLURAL
from snyk_broker_operator.models.enums import ConditionReason
from support.fakes import NAME, ORG, Call, CallLog, World, broker_token, consumer_deployment, kube_error

CUSTODY = f"{NAME}-snykbroker-custody"
ROTATION = f"{NAME}-snykbroker-rotation"


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logged = [record for record in caplog.records if record.exc_info]
    assert not logged, f"logged with a traceback: {[r.getMessage() for r in logged]}"


async def test_a_refused_api_key_stalls_with_authentication_failed_and_backs_off(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.new_broker_token()
    refused = AuthenticationError(CallContext(SnykCall.GET_INTEGRATION_BY_TYPE, org_id=ORG), status_code=401)
    world.snyk.fail_next(SnykCall.GET_INTEGRATION_BY_TYPE, refused)
    mark = world.log.mark()

    with caplog.at_level(logging.DEBUG):
        result = await world.run_pass()

    stalled = world.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "AuthenticationFailed")
    assert stalled["message"] == str(refused)
    assert world.condition("Ready")["status"] == "False"
    assert [c.op for c in CallLog.writes(world.log.since(mark))] == ["events.record", "objects.patch_status"]
    assert world.events.events[-1].warning is True
    assert (result.outcome, result.delay) == ("stalled", 5.0)
    assert_no_traceback(caplog)


async def test_a_rate_limited_call_is_retried_after_the_delay_snyk_asked_for(world: World) -> None:
    await world.new_broker_token()
    limited = RateLimitedError(CallContext(SnykCall.ENABLE_BROKER, org_id=ORG), retry_after=42.0)
    world.snyk.fail_next(SnykCall.ENABLE_BROKER, limited)

    result = await world.run_pass()

    reconciling = world.condition("Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "RateLimited")
    assert world.condition("Stalled")["status"] == "False"
    assert (result.outcome, result.delay) == ("failed", 42.0)
    assert world.secrets.names() == set()  # enable never answered: nothing to keep

    await world.time.sleep(result.delay)
    await world.settle()
    assert world.condition("Ready")["status"] == "True"
    assert "failedAttempts" not in world.status()  # a success clears the failure bookkeeping


async def test_an_org_snyk_does_not_know_stalls_with_integration_not_found(world: World) -> None:
    await world.new_broker_token(org_id="09000000-0000-4000-8000-000000000009")

    await world.run_pass()

    assert world.condition("Stalled")["reason"] == "IntegrationNotFound"


Arrange = Callable[[World, KubeError], Awaitable[None]]


async def _custody(world: World, error: KubeError) -> None:
    await world.new_broker_token()
    world.log.fail_next("secrets.create", error, subject=CUSTODY)


async def _consumer_secret(world: World, error: KubeError) -> None:
    await world.new_broker_token()
    world.log.fail_next("secrets.create", error, subject=NAME)


async def _roll(world: World, error: KubeError) -> None:
    world.workloads.add(consumer_deployment("app"))
    await world.new_broker_token()
    waiting = await world.run_pass()
    await world.time.sleep(waiting.delay)
    world.log.fail_next("workloads.set_template_annotation", error)


async def _bridge(world: World, error: KubeError) -> None:
    await world.provisioned(consumers=["app"])
    world.request_rotation("now")
    world.log.fail_next("workloads.apply_deployment", error)


async def _rotation_cleanup(world: World, error: KubeError) -> None:
    await world.provisioned()  # no consumer: the whole rotation runs in one pass, up to the clean-up
    world.request_rotation("now")
    world.log.fail_next("secrets.delete", error, subject=ROTATION)


WRITES = [
    pytest.param(_custody, "writing the custody Secret", id="the custody Secret cannot be written"),
    pytest.param(_consumer_secret, "writing Secret 'broker'", id="the consumer Secret cannot be written"),
    pytest.param(_roll, "rolling Deployment 'app'", id="a consumer cannot be rolled"),
    pytest.param(_bridge, "applying bridge 'app-snykbroker-bridge'", id="a bridge cannot be applied"),
    pytest.param(_rotation_cleanup, "cleaning up after the rotation", id="the rotation cannot clean up"),
]


@pytest.mark.parametrize(("arrange", "doing"), WRITES)
async def test_a_kubernetes_write_that_may_pass_ends_the_pass_as_a_kubernetes_error_to_retry_and_the_retry_succeeds(
    world: World, caplog: pytest.LogCaptureFixture, arrange: Arrange, doing: str
) -> None:
    await arrange(world, kube_error(Unavailable))

    with caplog.at_level(logging.DEBUG):
        result = await world.run_pass()

    assert len(world.log.refused) == 1, "the injected fault was not reached"
    reconciling = world.condition("Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "KubernetesError")
    assert f"{doing} failed" in reconciling["message"]
    assert world.condition("Stalled")["status"] == "False"
    assert (result.outcome, result.delay) == ("failed", 5.0)
    assert world.status()["failedAttempts"] == 1
    assert_no_traceback(caplog)

    await world.time.sleep(result.delay)
    await world.settle()
    assert world.condition("Ready")["status"] == "True"


@pytest.mark.parametrize(("arrange", "doing"), WRITES)
async def test_a_write_the_api_server_refuses_stalls_with_what_to_change_and_goes_on_once_the_cause_is_gone(
    world: World, caplog: pytest.LogCaptureFixture, arrange: Arrange, doing: str
) -> None:
    await arrange(world, kube_error(Forbidden, 'secrets "x" is forbidden: User "op" cannot create resource "secrets"'))

    with caplog.at_level(logging.DEBUG):
        result = await world.run_pass()

    assert len(world.log.refused) == 1, "the injected fault was not reached"
    stalled = world.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "WriteForbidden")
    assert stalled["message"].startswith(f'{doing} was refused by the API server: secrets "x" is forbidden')
    assert "To fix it: grant the operator's ServiceAccount this permission" in stalled["message"]
    assert world.condition("Reconciling")["status"] == "False"
    assert result.outcome == "stalled"
    assert_no_traceback(caplog)

    # Once the cause is gone (the fault was one-shot: the permission was granted), the next look succeeds.
    await world.time.sleep(result.delay)
    await world.settle()
    assert world.condition("Ready")["status"] == "True"


async def test_an_unusable_connection_stalls_with_what_to_fix(world: World) -> None:
    await world.new_broker_token()
    missing = ConnectionUnusable(ConditionReason.CONNECTION_NOT_FOUND, "SnykConnection 'snyk' not found")
    world.log.fail_next("connections.client_for", missing)

    await world.run_pass()

    stalled = world.condition("Stalled")
    assert (stalled["reason"], stalled["message"]) == ("ConnectionNotFound", "SnykConnection 'snyk' not found")
    assert world.snyk.ledger == []


async def test_a_connection_that_does_not_exist_stalls_through_the_real_connection_lookup(world: World) -> None:
    await world.new_broker_token()
    connections = Connections(objects=world.objects, secrets=world.secrets, operator_namespace="operators")
    deps = dataclasses.replace(world.deps(), connections=connections)

    await world.run_pass(deps)

    stalled = world.condition("Stalled")
    assert stalled["reason"] == "ConnectionNotFound"
    assert "'snyk' not found in namespace 'ns'" in stalled["message"]
    await connections.aclose()


async def test_an_unexpected_error_is_a_bug_and_propagates(world: World) -> None:
    await world.new_broker_token()
    world.log.fail_next("connections.client_for", RuntimeError("a bug"))

    with pytest.raises(RuntimeError, match="a bug"):
        await world.run_pass()

    assert CallLog.writes(world.log.entries[1:]) == []


async def test_an_object_the_models_refuse_is_reported_stalled_in_one_status_write_and_nothing_else(
    world: World,
) -> None:
    world.add_broker_token(org_id="not-a-uuid")

    result = await world.run_pass()

    assert world.log.entries == [Call("objects.patch_status", NAME)]  # not even a read
    stalled = world.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec")
    assert "spec.orgId" in stalled["message"]
    assert world.events.events == []
    assert (result.outcome, result.delay, result.wrote_status) == ("stalled", 300.0, True)

    await world.time.sleep(60)
    again = await world.run_pass()
    assert again.wrote_status is False and world.log.entries == [Call("objects.patch_status", NAME)]


async def test_an_invalid_object_with_an_unreadable_status_is_still_reported(world: World) -> None:
    world.add_broker_token(org_id="not-a-uuid", status={"failedAttempts": "many"})

    result = await world.run_pass()

    assert result.wrote_status is True and world.condition("Stalled")["reason"] == "InvalidSpec"


async def test_an_invalid_object_deleted_meanwhile_is_not_reported(world: World) -> None:
    result = await world.run_pass(body=broker_token(org_id="not-a-uuid"))

    assert result.wrote_status is False and world.log.refused == [Call("objects.patch_status", NAME)]


# Kubernetes failures outside any step are not mapped to a status today: they propagate to the per-object loop,
# which logs them and tries again after handlers.AFTER_CRASH_SECONDS. These pin what such a pass leaves behind.


async def test_a_read_refused_before_any_step_ends_the_pass_having_written_nothing_and_backs_off(
    world: World,
) -> None:
    await world.new_broker_token()
    world.log.fail_next("workloads.list", kube_error(Unavailable))
    mark = world.log.mark()

    result = await world.run_pass()

    assert CallLog.writes(world.log.since(mark)) == [] and world.snyk.ledger == []
    assert result.outcome == "failed" and result.delay == 5.0  # the first backoff step, not a hot loop


async def test_a_refused_status_write_is_retried_by_the_next_pass_after_the_steps_and_events_landed(
    world: World,
) -> None:
    await world.new_broker_token()
    world.log.fail_next("objects.patch_status", kube_error(Unavailable))

    result = await cycle.run_pass(world.body(), world.deps())

    assert not result.wrote_status
    assert world.secrets.token(NAME) is not None and "TokenIssued" in world.events.reasons()
    await world.settle()  # the retry writes the status, and records no event twice
    assert world.events.reasons().count("TokenIssued") == 1


async def test_an_edit_that_makes_the_object_invalid_keeps_what_the_status_recorded(world: World) -> None:
    status = await world.provisioned()
    world.objects.edit_spec(BROKER_TOKEN_PLURAL, NAME, {"orgId": "not-a-uuid"})

    await world.run_pass()

    assert world.condition("Stalled")["reason"] == "InvalidSpec"
    assert world.status()["tokenFingerprint"] == status["tokenFingerprint"]
    assert world.status()["observedGeneration"] == 2
