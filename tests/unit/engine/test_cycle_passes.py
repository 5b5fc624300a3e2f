"""`cycle.run_pass` on the port fakes: what a pass writes, in which order, and that a converged pass writes nothing.

Every pass here goes through `World.run_pass`, which also checks the invariants of any pass (at most one status
patch, nothing written or recorded after it); the last tests prove that check can fail.
"""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from snyk_broker_operator.adapters.kube.errors import Forbidden
from snyk_broker_operator.adapters.snyk import AmbiguousError, CallContext, IntegrationConflictError, SnykCall
from snyk_broker_operator.engine import cycle
from snyk_broker_operator.models import BROKER_TOKEN_PLURAL, fingerprint_of
from support.fakes import (
    GITHUB,
    NAME,
    NAMESPACE,
    ORG,
    ORG_B,
    ORG_C,
    ORG_D,
    ORG_D_GITHUB,
    Call,
    CallLog,
    World,
    check_pass,
    consumer_deployment,
    kube_error,
    opaque_secret,
)

CUSTODY = f"{NAME}-snykbroker-custody"
GIVEN_TOKEN = "4a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a"


def github_token(world: World) -> str:
    token = world.snyk.integrations[GITHUB].token
    assert token is not None, "Snyk never enabled broker on the github integration"
    return token.get_secret_value()


async def test_a_new_broker_token_first_shows_it_is_in_progress_with_one_status_write_and_no_other_call(
    world: World,
) -> None:
    world.add_broker_token()

    result = await world.run_pass()

    # GitOps tools (kstatus) see InProgress at once, before any Snyk call could take a while or fail.
    assert world.log.entries == [Call("objects.patch_status", NAME)]
    assert world.condition("Reconciling")["status"] == "True"
    assert world.condition("Ready")["status"] == "False"
    assert (result.outcome, result.delay, result.wrote_status) == ("pending", 0.0, True)


async def test_the_first_working_pass_resolves_enables_and_keeps_the_token_in_custody_before_any_other_write(
    world: World,
) -> None:
    await world.new_broker_token()
    mark = world.log.mark()

    result = await world.run_pass()

    entries = world.log.since(mark)
    assert CallLog.snyk(entries) == [
        Call("snyk.get_integration_by_type", ORG),
        Call("snyk.enable_broker", GITHUB),
    ]
    # Custody is the first write: a token Snyk returned is never held only in memory.
    assert CallLog.writes(entries) == [
        Call("secrets.create", CUSTODY),
        Call("secrets.create", NAME),
        Call("events.record", "TokenIssued"),
        Call("events.record", "SecretWritten"),
        Call("objects.patch_status", NAME),
    ]
    # ...and it comes right after the Snyk call that returned the token, before anything else happens.
    enable = entries.index(Call("snyk.enable_broker", GITHUB))
    assert entries[enable + 1] == Call("secrets.create", CUSTODY)
    token = github_token(world)
    assert world.secrets.token(CUSTODY, key="token") == token
    assert world.secrets.token(NAME) == token
    assert world.status()["tokenFingerprint"] == fingerprint_of(SecretStr(token))
    assert world.condition("Ready")["status"] == "True"
    assert (result.outcome, result.delay, result.wrote_status) == ("converged", 300.0, True)


async def test_a_pass_the_watch_has_not_caught_up_with_continues_from_the_status_the_previous_pass_wrote(
    world: World,
) -> None:
    world.add_broker_token()
    stale = world.body()  # as the loop still holds it: no status yet
    first = await world.run_pass()
    mark = world.log.mark()

    result = await cycle.run_pass(stale, world.deps(), last_status=first.status)

    # Not a second InProgress write: the pass goes on to obtain the token.
    assert Call("snyk.enable_broker", GITHUB) in world.log.since(mark)
    assert result.wrote_status is True and world.condition("Ready")["status"] == "True"


async def test_a_converged_pass_makes_no_snyk_call_no_write_and_records_no_event(world: World) -> None:
    await world.provisioned(consumers=["app"])
    await world.time.sleep(3600)  # an hour later: time alone changes nothing
    mark, events_before = world.log.mark(), len(world.events.events)

    result = await world.run_pass()

    entries = world.log.since(mark)
    assert CallLog.snyk(entries) == []
    assert Call("connections.client_for", "snyk") not in entries  # not even the connection is read
    assert CallLog.writes(entries) == []
    assert len(world.events.events) == events_before
    assert result.wrote_status is False and result.outcome == "converged"


async def test_the_consumer_secret_is_announced_to_the_loop_before_any_io(world: World) -> None:
    await world.new_broker_token(secret={"name": "github-token"})
    mark = world.log.mark()
    told: list[tuple[str, int]] = []

    await cycle.run_pass(world.body(), world.deps(), reads_secret=lambda name: told.append((name, world.log.mark())))

    assert told == [("github-token", mark)]
    assert len(world.log.entries) > mark  # the pass did read and write after it


async def test_consumers_roll_onto_the_token_once_it_has_settled_and_are_reported_current_after_the_rollout(
    world: World,
) -> None:
    world.workloads.add(consumer_deployment("app"))
    await world.new_broker_token()

    first = await world.run_pass()
    # A fresh token is not rolled out at once (a burst of changes becomes one rollout): the pass waits.
    assert first.outcome == "waiting" and first.delay == 3.0
    template = (world.workloads.get("app") or {})["spec"]["template"]["metadata"]
    assert "snykbroker.dev/token-fingerprint" not in (template.get("annotations") or {})

    await world.time.sleep(first.delay)
    await world.run_pass()
    fingerprint = world.status()["tokenFingerprint"]
    rolled = world.workloads.get("app") or {}
    assert rolled["spec"]["template"]["metadata"]["annotations"]["snykbroker.dev/token-fingerprint"] == fingerprint
    assert rolled["metadata"]["generation"] == 2
    assert world.status()["consumers"][0]["state"] == "RollingOut"

    world.workloads.roll_out("app")
    await world.run_pass()
    assert world.status()["consumers"][0]["state"] == "Current"
    assert world.status()["consumersReady"] == "1/1"
    assert world.events.reasons()[-2:] == ["RolloutStarted", "RolloutCompleted"]


async def test_a_deleted_consumer_secret_is_restored_from_custody_without_asking_snyk(world: World) -> None:
    await world.provisioned()
    token = world.secrets.token(NAME)
    world.secrets.remove(NAMESPACE, NAME)
    mark = world.log.mark()

    await world.run_pass()

    assert CallLog.snyk(world.log.since(mark)) == []
    assert world.secrets.token(NAME) == token
    assert world.events.events[-1].reason == "SecretRestored"


async def test_a_token_given_in_a_secret_is_adopted_without_any_snyk_call(world: World) -> None:
    world.secrets.put(opaque_secret("given", {"BROKER_TOKEN": GIVEN_TOKEN}))
    world.add_broker_token(source={"existingSecretRef": {"name": "given"}}, secret={"name": "github-token"})

    results = await world.settle()

    assert world.connections.asked == []  # a given token is never sent anywhere
    assert world.secrets.token("github-token") == GIVEN_TOKEN
    assert world.secrets.token(CUSTODY, key="token") == GIVEN_TOKEN
    assert world.events.reasons() == ["TokenAdopted", "SecretWritten"]
    assert results[-1].delay == 30.0  # a given Secret is polled: it is not labelled for the watch


async def test_an_integration_named_by_id_is_resolved_through_the_org_listing(world: World) -> None:
    await world.new_broker_token(integration={"id": GITHUB})

    await world.run_pass()

    assert CallLog.snyk(world.log.entries)[0] == Call("snyk.list_integrations", ORG)
    assert world.status()["integrationId"] == GITHUB


async def test_an_integration_id_the_org_does_not_have_stalls_with_integration_not_found(world: World) -> None:
    await world.new_broker_token(integration={"id": "1f000000-0000-4000-8000-0000000000ff"})

    await world.run_pass()

    stalled = world.condition("Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "IntegrationNotFound")
    assert world.secrets.names() == set()
    assert world.events.reasons() == ["IntegrationNotFound"]


async def test_sharing_clones_into_free_orgs_and_records_an_org_that_has_its_own_integration_as_a_conflict(
    world: World,
) -> None:
    world.add_broker_token(shareWith=[{"orgId": ORG_B}, {"orgId": ORG_D}])

    await world.settle()

    shared = {entry["orgId"]: entry for entry in world.status()["sharedWith"]}
    assert shared[ORG_B]["state"] == "Shared"
    assert world.snyk.integrations[shared[ORG_B]["integrationId"]].token == world.snyk.integrations[GITHUB].token
    assert shared[ORG_D] == {
        "orgId": ORG_D,
        "integrationId": ORG_D_GITHUB,
        "state": "Conflict",
        "message": shared[ORG_D]["message"],
    }
    assert len(world.snyk.calls(SnykCall.CLONE_INTEGRATION)) == 1  # the conflicting org is never cloned into
    assert "SharedWithOrg" in world.events.reasons() and "ShareConflict" in world.events.reasons()


async def test_a_clone_whose_answer_was_lost_is_found_by_looking_again_and_never_repeated(world: World) -> None:
    world.add_broker_token(shareWith=[{"orgId": ORG_B}])
    lost = AmbiguousError(CallContext(SnykCall.CLONE_INTEGRATION, org_id=ORG, destination_org_id=ORG_B))
    world.snyk.fail_next(SnykCall.CLONE_INTEGRATION, lost, applied=True)

    await world.settle()

    assert [entry.result for entry in world.snyk.calls(SnykCall.CLONE_INTEGRATION)] == ["AmbiguousError"]
    (entry,) = world.status()["sharedWith"]
    assert entry["state"] == "Shared" and entry["integrationId"] == world.snyk.orgs[ORG_B]["github"]


async def test_an_integration_added_by_someone_else_during_the_clone_is_left_as_theirs(world: World) -> None:
    world.add_broker_token(shareWith=[{"orgId": ORG_C}])
    theirs: list[str] = []
    raced = IntegrationConflictError(CallContext(SnykCall.CLONE_INTEGRATION, org_id=ORG, destination_org_id=ORG_C))
    world.snyk.fail_next(
        SnykCall.CLONE_INTEGRATION, raced, before=lambda: theirs.append(world.snyk.add_integration(ORG_C, "github"))
    )

    await world.settle()

    (entry,) = world.status()["sharedWith"]
    assert (entry["state"], entry["integrationId"]) == ("Conflict", theirs[0])


async def test_a_pass_out_of_steps_ends_pending_and_the_next_pass_continues_at_once(world: World) -> None:
    # Each share costs a look-up and a clone: 13 orgs need more steps than one pass may take.
    orgs = [f"0e0000{index:02d}-0000-4000-8000-000000000000" for index in range(13)]
    for org in orgs:
        world.snyk.add_org(org)
    await world.new_broker_token(shareWith=[{"orgId": org} for org in orgs])

    first = await world.run_pass()

    assert (first.outcome, first.delay) == ("pending", 0.0)
    assert world.condition("Reconciling")["status"] == "True"
    await world.settle()
    assert len(world.status()["sharedWith"]) == len(orgs)


async def test_a_broker_token_deleted_during_the_pass_is_not_reported_on(world: World) -> None:
    await world.new_broker_token()
    body = world.body()
    world.objects.remove(BROKER_TOKEN_PLURAL, NAME)  # deleted meanwhile: the status patch finds nothing
    patches = len(world.objects.status_patches)

    result = await world.run_pass(body=body)

    assert result.wrote_status is False
    assert world.log.refused == [Call("objects.patch_status", NAME)]
    assert len(world.objects.status_patches) == patches
    assert world.secrets.token(NAME) is not None  # the pass itself still did its work


async def test_an_event_that_cannot_be_recorded_does_not_fail_the_pass(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.new_broker_token()
    world.log.fail_next("events.record", kube_error(Forbidden))

    with caplog.at_level(logging.WARNING):
        result = await world.run_pass()

    assert result.wrote_status is True and world.condition("Ready")["status"] == "True"
    assert world.events.reasons() == ["SecretWritten"]  # TokenIssued was refused, the next one went through
    assert "Could not record event TokenIssued" in caplog.text


async def test_a_changed_spec_is_reconciled_and_its_generation_observed(world: World) -> None:
    await world.provisioned()
    world.objects.edit_spec(BROKER_TOKEN_PLURAL, NAME, {"secret": {"labels": {"team": "platform"}}})

    await world.settle()

    secret = world.secrets.get(NAMESPACE, NAME) or {}
    assert secret["metadata"]["labels"]["team"] == "platform"
    assert world.status()["observedGeneration"] == 2
    assert world.events.events[-1].reason == "SecretRestored"


async def test_a_consumer_secret_owned_by_something_else_stalls_without_being_touched(world: World) -> None:
    theirs = opaque_secret(NAME, {"BROKER_TOKEN": GIVEN_TOKEN}, owner_uid="someone-else")
    world.secrets.put(theirs)
    await world.new_broker_token()
    mark = world.log.mark()

    await world.run_pass()

    assert world.condition("Stalled")["reason"] == "SecretConflict"
    assert world.secrets.token(NAME) == GIVEN_TOKEN
    assert CallLog.writes(world.log.since(mark)) == [
        Call("events.record", "SecretConflict"),
        Call("objects.patch_status", NAME),
    ]


@pytest.mark.parametrize("told_the_last_status", [True, False], ids=["told", "not told (the old behaviour)"])
async def test_a_pass_that_starts_from_a_body_older_than_the_last_write_announces_nothing_again(
    world: World, told_the_last_status: bool
) -> None:
    world.secrets.put(opaque_secret(NAME, {"BROKER_TOKEN": GIVEN_TOKEN}, owner_uid="someone-else"))
    await world.new_broker_token()
    lagging = world.body()  # what the watch still shows while the stall's status write is under way
    stalled = await world.run_pass()
    mark = world.log.mark()

    last = stalled.status if told_the_last_status else None
    again = await cycle.run_pass(lagging, world.deps(), last_status=last)

    repeated = [c for c in CallLog.writes(world.log.since(mark)) if c.op == "events.record"]
    if told_the_last_status:
        assert repeated == []
        assert again.status is not None and again.status.failed_attempts == 2  # it went on from the last write
    else:  # why the loop hands each pass the status the previous one left: without it the stall is announced twice
        assert repeated == [Call("events.record", "SecretConflict")]


async def test_a_repeated_stall_is_neither_recorded_again_nor_written_again(world: World) -> None:
    world.secrets.put(opaque_secret(NAME, {"BROKER_TOKEN": GIVEN_TOKEN}, owner_uid="someone-else"))
    await world.new_broker_token()
    await world.run_pass()
    mark = world.log.mark()

    await world.time.sleep(5)
    result = await world.run_pass()

    # Only the failure bookkeeping moves (attempts, time): written, but no second SecretConflict event.
    assert [c.op for c in CallLog.writes(world.log.since(mark))] == ["objects.patch_status"]
    assert world.status()["failedAttempts"] == 2
    assert result.delay == 10.0  # backoff: 5 s, then 10 s


def test_the_pass_check_refuses_two_status_writes_or_a_write_after_the_status() -> None:
    patch, event = Call("objects.patch_status", NAME), Call("events.record", "TokenIssued")
    with pytest.raises(AssertionError, match="more than one status write"):
        check_pass([patch, patch], wrote=True)
    with pytest.raises(AssertionError, match="written after the status"):
        check_pass([patch, event], wrote=True)
    with pytest.raises(AssertionError, match="wrote_status=False"):
        check_pass([patch], wrote=False)
    check_pass([event, patch], wrote=True)


async def test_several_consumers_roll_in_one_pass_and_one_refusal_holds_no_other_back(world: World) -> None:
    # The rolls of one pass are written together (a hundred one after another took two seconds); each one that
    # landed is folded in and announced, and a refused one fails the pass as a sequential roll would have.
    for name in ("app-a", "app-b", "app-c"):
        world.workloads.add(consumer_deployment(name))
    await world.new_broker_token()
    first = await world.run_pass()
    await world.time.sleep(first.delay)
    world.log.fail_next("workloads.set_template_annotation", kube_error(Forbidden), subject="app-b")

    failed = await world.run_pass()

    fingerprint = world.status()["tokenFingerprint"]

    def carried(name: str) -> str | None:
        template = (world.workloads.get(name) or {})["spec"]["template"]["metadata"]
        return (template.get("annotations") or {}).get("snykbroker.dev/token-fingerprint")

    assert failed.outcome == "stalled"
    assert (carried("app-a"), carried("app-b"), carried("app-c")) == (fingerprint, None, fingerprint)
    assert world.events.reasons().count("RolloutStarted") == 2

    await world.run_pass()
    assert carried("app-b") == fingerprint
    assert world.events.reasons().count("RolloutStarted") == 3
