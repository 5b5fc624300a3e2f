"""Rotation as pure decisions: when one falls due (schedule, jitter, annotation), and the next step of one running."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.models.enums import ConditionReason, RotationPhase, RotationStrategy, RotationTrigger
from snyk_broker_operator.reconcile import actions, rotation
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.rotation import RotationIntent, RotationRecord
from support.reconcile_builders import NEW_TOKEN, NOW, TOKEN, record, workload

OLD = TOKEN
NEW = NEW_TOKEN


def step(
    rec: RotationRecord,
    *,
    current: SecretStr = OLD,
    using: tuple[Workload, ...] = (),
    bridges: tuple[Workload, ...] = (),
) -> actions.Decision:
    return rotation.step(
        record=rec, org_id="org", integration_id="int", current_token=current, consumers=using, bridges=bridges
    )


def bridge(**changes: Any) -> Workload:
    """A one-replica bridge on the provisional token, available unless `changes` say otherwise."""
    base = workload("broker-snykbroker-bridge", fingerprint=fingerprint_of(NEW), replicas=1, available_replicas=1,
                    updated_replicas=1, total_replicas=1)  # fmt: skip
    return dataclasses.replace(base, **changes)


EVERY_DAY = RotationIntent(every=timedelta(days=1), strategy=RotationStrategy.BRIDGE, requested=None)


def test_jitter_is_stable_per_object_and_bounded() -> None:
    every = timedelta(seconds=20)
    assert rotation.jitter("uid-a", every) == rotation.jitter("uid-a", every)
    assert all(timedelta(0) <= rotation.jitter(f"uid-{i}", every) <= timedelta(seconds=2) for i in range(50))
    assert rotation.jitter("uid-a", timedelta(days=90)) <= timedelta(minutes=5)
    assert len({rotation.jitter(f"uid-{i}", timedelta(days=1)) for i in range(20)}) > 1, "tokens spread out"


def test_a_schedule_is_due_after_the_interval_and_jitter_from_issue() -> None:
    issued = NOW - timedelta(days=1)
    when = rotation.next_rotation_at(issued_at=issued, intent=EVERY_DAY, uid="u")
    assert when is not None and issued + timedelta(days=1) <= when <= issued + timedelta(days=1, minutes=5)
    assert (
        rotation.due(intent=EVERY_DAY, last_request=None, issued_at=issued, uid="u", now=when)
        == RotationTrigger.SCHEDULE
    )
    early = when - timedelta(seconds=1)
    assert rotation.due(intent=EVERY_DAY, last_request=None, issued_at=issued, uid="u", now=early) is None


def test_an_annotation_value_triggers_once() -> None:
    intent = dataclasses.replace(EVERY_DAY, requested="2026-11-29T12:00:00Z")
    assert rotation.due(intent=intent, last_request=None, issued_at=NOW, uid="u", now=NOW) == RotationTrigger.ANNOTATION
    handled = intent.requested
    assert rotation.due(intent=intent, last_request=handled, issued_at=NOW, uid="u", now=NOW) is None


def test_nothing_is_due_without_a_schedule_or_a_request() -> None:
    intent = RotationIntent(every=None, strategy=RotationStrategy.BRIDGE, requested=None)
    assert rotation.due(intent=intent, last_request=None, issued_at=NOW - timedelta(days=999), uid="u", now=NOW) is None


@pytest.mark.parametrize(
    ("issued_at", "intent"),
    [(None, EVERY_DAY), (NOW, dataclasses.replace(EVERY_DAY, every=None))],
    ids=["a token never issued has no next rotation", "a token rotated only on request has no next rotation"],
)
def test_there_is_no_next_rotation_without_an_interval_and_an_issue_time(
    issued_at: datetime | None, intent: RotationIntent
) -> None:
    assert rotation.next_rotation_at(issued_at=issued_at, intent=intent, uid="u") is None


def test_a_record_without_a_token_provisions_first() -> None:
    (action,) = step(record(RotationPhase.PROVISIONED, token=False)).actions
    assert action == actions.ProvisionToken(org_id="org", integration_id="int")


def test_bridge_rotation_walks_its_phases_in_order() -> None:
    consumer = workload(fingerprint=fingerprint_of(OLD))
    assert step(record(RotationPhase.PROVISIONED), using=(consumer,)).actions == (
        actions.EnsureBridges(consumers=("broker",)),
    )
    bridge = workload("broker-snykbroker-bridge", fingerprint=fingerprint_of(NEW), replicas=1, available_replicas=1,
                      updated_replicas=1, total_replicas=1)  # fmt: skip
    assert step(record(RotationPhase.BRIDGING), using=(consumer,), bridges=(bridge,)).actions == (
        actions.SwitchToken(org_id="org", integration_id="int"),
    )
    assert step(record(RotationPhase.SWITCHED), using=(consumer,)).actions == (actions.PromoteProvisional(),)
    rolled = workload(fingerprint=fingerprint_of(NEW))
    assert step(record(RotationPhase.ROLLING_OUT), current=NEW, using=(rolled,)).actions == (actions.FinishRotation(),)


def test_bridge_rotation_never_switches_before_the_bridges_are_available() -> None:
    consumer = workload(fingerprint=fingerprint_of(OLD))
    starting = workload("broker-snykbroker-bridge", fingerprint=fingerprint_of(NEW), replicas=1, available_replicas=0,
                        updated_replicas=1, total_replicas=1)  # fmt: skip
    decision = step(record(RotationPhase.BRIDGING), using=(consumer,), bridges=(starting,))
    assert not decision.actions and decision.wait_seconds is not None and decision.stall is None
    failed = dataclasses.replace(starting, deadline_exceeded="ReplicaSet has timed out progressing")
    decision = step(record(RotationPhase.BRIDGING), using=(consumer,), bridges=(failed,))
    assert not decision.actions
    assert decision.stall is not None and decision.stall.reason == "BridgeUnavailable"
    assert "broker-snykbroker-bridge" in decision.stall.message


def test_in_place_rotation_rolls_before_it_switches() -> None:
    assert step(record(RotationPhase.PROVISIONED, RotationStrategy.IN_PLACE)).actions == (actions.PromoteProvisional(),)
    behind = workload(fingerprint=fingerprint_of(OLD))
    waiting = step(record(RotationPhase.ROLLING_OUT, RotationStrategy.IN_PLACE), current=NEW, using=(behind,))
    assert not waiting.actions
    rolled = workload(fingerprint=fingerprint_of(NEW))
    assert step(record(RotationPhase.ROLLING_OUT, RotationStrategy.IN_PLACE), current=NEW, using=(rolled,)).actions == (
        actions.SwitchToken(org_id="org", integration_id="int"),
    )
    assert step(record(RotationPhase.SWITCHED, RotationStrategy.IN_PLACE), current=NEW).actions == (
        actions.FinishRotation(),
    )


def test_at_most_four_bridges_run_on_the_provisional_token() -> None:
    many = tuple(workload(f"b{i}", fingerprint=fingerprint_of(OLD)) for i in range(6))
    (action,) = step(record(RotationPhase.PROVISIONED), using=many).actions
    assert isinstance(action, actions.EnsureBridges) and len(action.consumers) == 4


ENSURE = actions.Decision(actions=(actions.EnsureBridges(consumers=("broker",)),), wait_seconds=rotation.POLL_SECONDS)
SWITCH = actions.Decision(actions=(actions.SwitchToken(org_id="org", integration_id="int"),))
POLL = actions.Decision(wait_seconds=rotation.POLL_SECONDS)


@pytest.mark.parametrize(
    ("phase", "using", "bridges", "expected"),
    [
        (RotationPhase.PROVISIONED, (), (), SWITCH),
        (RotationPhase.PROVISIONED, (workload(),), (), ENSURE),
        (RotationPhase.BRIDGING, (workload(),), (), ENSURE),
        (RotationPhase.BRIDGING, (workload(),), (bridge(available_replicas=0),), POLL),
        (RotationPhase.BRIDGING, (workload(),), (bridge(),), SWITCH),
        (RotationPhase.ROLLING_OUT, (workload(fingerprint=fingerprint_of(OLD)),), (), POLL),
    ],
    ids=[
        "with no consumer there is nothing to bridge, so a provisioned rotation switches at once",
        "a provisioned rotation with a consumer starts its bridge and waits for the pods",
        "a bridging rotation that finds no bridge (deleted meanwhile) ensures the bridges again",
        "a bridge that is still starting is polled, neither stalled nor switched",
        "an available bridge lets the rotation switch",
        "a bridge rotation rolling out waits until every consumer runs the new token",
    ],
)
def test_the_next_step_of_a_bridge_rotation(
    phase: RotationPhase, using: tuple[Workload, ...], bridges: tuple[Workload, ...], expected: actions.Decision
) -> None:
    assert step(record(phase), current=NEW, using=using, bridges=bridges) == expected


def test_a_stalled_bridge_is_polled_and_names_every_failed_bridge_with_its_cause() -> None:
    failed = (
        bridge(name="a-snykbroker-bridge", deadline_exceeded="ReplicaSet a timed out"),
        bridge(name="b-snykbroker-bridge", deadline_exceeded="ReplicaSet b timed out"),
    )
    decision = step(record(RotationPhase.BRIDGING), using=(workload("a"), workload("b")), bridges=failed)
    assert decision.stall is not None and decision.stall.reason == ConditionReason.BRIDGE_UNAVAILABLE
    assert "'a-snykbroker-bridge', 'b-snykbroker-bridge'" in decision.stall.message
    assert "(ReplicaSet a timed out)" in decision.stall.message
    assert decision.wait_seconds == rotation.POLL_SECONDS and not decision.actions


@pytest.mark.parametrize(
    ("bridges", "ready", "failed"),
    [
        ((), False, []),
        ((bridge(),), True, []),
        ((bridge(), bridge(name="x", fingerprint=fingerprint_of(OLD))), False, []),
        ((bridge(deadline_exceeded="stuck"),), False, ["broker-snykbroker-bridge"]),
    ],
    ids=[
        "no bridge at all is not ready",
        "every bridge available on the provisional token is ready",
        "a bridge still on the old token keeps the bridges from being ready",
        "a bridge past its progress deadline is reported as failed",
    ],
)
def test_bridges_are_ready_only_when_all_run_the_provisional_token(
    bridges: tuple[Workload, ...], ready: bool, failed: list[str]
) -> None:
    got_ready, got_failed = rotation.bridges_ready(bridges, fingerprint_of(NEW))
    assert (got_ready, [b.name for b in got_failed]) == (ready, failed)
