"""Rotation's schedule and state machine, and consumer discovery and state, as pure decisions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.models.enums import ConsumerState, RotationPhase, RotationStrategy, RotationTrigger
from snyk_broker_operator.reconcile import actions, consumers, rotation
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.rotation import RotationIntent, RotationRecord

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
OLD = SecretStr("5a3f9c2e-8b1d-4e6f-9a7c-2d5e8f1b3c4a")
NEW = SecretStr("6b4a0d3f-9c2e-4f70-8b8d-3e6f9a2c4d5b")


def workload(name: str = "broker", fingerprint: str | None = None, **changes: Any) -> Workload:
    base = Workload(
        kind="Deployment",
        name=name,
        generation=2,
        observed_generation=2,
        replicas=2,
        updated_replicas=2,
        available_replicas=2,
        total_replicas=2,
        fingerprint=fingerprint,
        deadline_exceeded=None,
        ha_mode=True,
        client_urls=frozenset(),
    )
    return dataclasses.replace(base, **changes)


def record(
    phase: RotationPhase, strategy: RotationStrategy = RotationStrategy.BRIDGE, token: bool = True
) -> RotationRecord:
    return RotationRecord(
        phase=phase,
        strategy=strategy,
        trigger=RotationTrigger.ANNOTATION,
        started_at=datetime(2026, 11, 29, 11, 59, tzinfo=UTC),
        request="now",
        token=NEW if token else None,
    )


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


def pod_spec(**parts: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", **parts}]}


@pytest.mark.parametrize(
    "spec",
    [
        pod_spec(env=[{"name": "BROKER_TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "BROKER_TOKEN"}}}]),
        pod_spec(envFrom=[{"secretRef": {"name": "tok"}}]),
        {"containers": [{"name": "c"}], "volumes": [{"name": "v", "secret": {"secretName": "tok"}}]},
        {
            "containers": [{"name": "c"}],
            "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "tok"}}]}}],
        },
        {"containers": [{"name": "c"}], "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "tok"}}]}]},
    ],
    ids=["env secretKeyRef", "envFrom", "secret volume", "projected volume", "init container"],
)
def test_a_pod_template_reading_the_secret_is_a_consumer(spec: dict[str, Any]) -> None:
    assert "tok" in consumers.referenced_secrets(spec)
    assert "other" not in consumers.referenced_secrets(spec)


def test_consumer_state_follows_the_rollout() -> None:
    fp = fingerprint_of(NEW)
    assert consumers.state_of(workload(fingerprint=None), fp)[0] == ConsumerState.PENDING
    assert consumers.state_of(workload(fingerprint=fp, observed_generation=1), fp)[0] == ConsumerState.ROLLING_OUT
    assert consumers.state_of(workload(fingerprint=fp, available_replicas=1), fp)[0] == ConsumerState.ROLLING_OUT
    assert consumers.state_of(workload(fingerprint=fp, total_replicas=3), fp)[0] == ConsumerState.ROLLING_OUT
    stuck = consumers.state_of(workload(fingerprint=fp, deadline_exceeded="timed out"), fp)
    assert stuck == (ConsumerState.FAILED, "ProgressDeadlineExceeded", "timed out")
    assert consumers.state_of(workload(fingerprint=fp), fp)[0] == ConsumerState.CURRENT


def test_redundancy_warnings_start_at_five_ha_clients_and_at_differing_client_urls() -> None:
    four = (workload("a", replicas=2), workload("b", replicas=2))
    assert consumers.redundancy_warnings(four) == []
    five = (workload("a", replicas=2), workload("b", replicas=3))
    ((reason, message),) = consumers.redundancy_warnings(five)
    assert reason == "HAClientLimitExceeded" and "5 broker clients" in message
    not_ha = (workload("a", replicas=3, ha_mode=False), workload("b", replicas=3, ha_mode=False))
    assert consumers.redundancy_warnings(not_ha) == []
    urls = (workload("a", client_urls=frozenset({"http://a"})), workload("b", client_urls=frozenset({"http://b"})))
    assert [reason for reason, _ in consumers.redundancy_warnings(urls)] == ["ClientURLMismatch"]
