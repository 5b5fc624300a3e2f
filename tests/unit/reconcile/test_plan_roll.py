"""`decide` after the token is settled: consumers roll once the token has been stable for ROLL_SETTLE, a rotation
falls due, and a rotation in progress is handed to `rotation.step` once its rollout is done."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.models.enums import RotationPhase, RotationStrategy, RotationTrigger
from snyk_broker_operator.reconcile import actions, plan
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.desired import Desired
from snyk_broker_operator.reconcile.manifests import desired_secret_annotations, desired_secret_labels
from snyk_broker_operator.reconcile.observed import Observed, SecretState
from snyk_broker_operator.reconcile.rotation import RotationIntent, RotationRecord
from support.reconcile_builders import (
    INTEGRATION,
    NEW_TOKEN,
    NOW,
    ORG,
    TOKEN,
    custody,
    desired,
    existing,
    record,
    workload,
)

WANT = desired()
FP = fingerprint_of(TOKEN)
NEW_FP = fingerprint_of(NEW_TOKEN)


def settled(
    want: Desired = WANT,
    *,
    consumers: tuple[Workload, ...] = (),
    issued_at: datetime | None = NOW - timedelta(hours=1),
    rotation: RotationRecord | None = None,
    token: SecretStr = TOKEN,
) -> Observed:
    """A BrokerToken whose custody and consumer Secret agree, with these consumers and rotation."""
    held = custody(want, token=token, issued_at=issued_at)
    assert held.token is not None
    secret = SecretState(
        exists=True,
        token=held.token,
        controller_uid=want.uid,
        labels=desired_secret_labels(want),
        annotations=desired_secret_annotations(want, held.token),
    )
    return Observed(custody=held, consumer=secret, source=None, consumers=consumers, rotation=rotation)


def roll(*names: str, fingerprint: str = FP) -> actions.Decision:
    return actions.Decision(
        actions=tuple(actions.RollConsumer(kind="Deployment", name=name, fingerprint=fingerprint) for name in names)
    )


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (settled(consumers=(workload("a", FP), workload("b", FP))), actions.Decision()),
        (settled(consumers=(workload("a", FP), workload("b", NEW_FP), workload("c"))), roll("b", "c")),
        (settled(consumers=(workload("a"),), issued_at=NOW - timedelta(seconds=1)), actions.Decision(wait_seconds=2.0)),
        (settled(consumers=(workload("a"),), issued_at=NOW - plan.ROLL_SETTLE), roll("a")),
        (settled(consumers=(workload("a"),), issued_at=None), roll("a")),
        (settled(consumers=(workload("a", FP),), issued_at=NOW), actions.Decision()),
    ],
    ids=[
        "consumers that all run the token decide nothing",
        "every consumer not on the token is rolled in one decision, those on it are left alone",
        "a token that changed a second ago waits the rest of the settle time before rolling",
        "a token stable for exactly the settle time is rolled",
        "a token with no issue time is rolled at once",
        "a token just issued that every consumer already runs decides nothing",
    ],
)
def test_consumers_roll_once_the_token_has_settled(observed: Observed, expected: actions.Decision) -> None:
    assert plan.decide(WANT, observed, now=NOW) == expected


def test_a_scheduled_rotation_that_fell_due_begins_with_no_request() -> None:
    want = desired(rotation=RotationIntent(timedelta(days=1), RotationStrategy.IN_PLACE, None))
    decision = plan.decide(want, settled(want, issued_at=NOW - timedelta(days=2)), now=NOW)
    assert decision.actions == (
        actions.BeginRotation(strategy=RotationStrategy.IN_PLACE, trigger=RotationTrigger.SCHEDULE, request=None),
    )


def test_a_rotation_request_waits_for_the_consumers_to_run_the_current_token_first() -> None:
    want = desired(rotation=RotationIntent(None, RotationStrategy.BRIDGE, "r1"))
    decision = plan.decide(want, settled(want, consumers=(workload("a"),)), now=NOW)
    assert decision.actions == (actions.BeginRotation(RotationStrategy.BRIDGE, RotationTrigger.ANNOTATION, "r1"),)


ROLLING_OUT = record(RotationPhase.ROLLING_OUT)
SWITCH = actions.SwitchToken(org_id=ORG, integration_id=INTEGRATION)


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        (settled(token=NEW_TOKEN, rotation=ROLLING_OUT, consumers=(workload("a", FP),)), roll("a", fingerprint=NEW_FP)),
        (
            settled(token=NEW_TOKEN, rotation=ROLLING_OUT, consumers=(workload("a", FP),), issued_at=NOW),
            actions.Decision(wait_seconds=3.0),
        ),
        (
            settled(token=NEW_TOKEN, rotation=ROLLING_OUT, consumers=(workload("a", NEW_FP),)),
            actions.Decision(actions=(actions.FinishRotation(),)),
        ),
        (
            settled(
                token=NEW_TOKEN,
                rotation=record(RotationPhase.ROLLING_OUT, RotationStrategy.IN_PLACE),
                consumers=(workload("a", NEW_FP),),
            ),
            actions.Decision(actions=(SWITCH,)),
        ),
        (
            settled(rotation=record(RotationPhase.BRIDGING), consumers=(workload("a", FP),)),
            actions.Decision(actions=(actions.EnsureBridges(consumers=("a",)),), wait_seconds=2.0),
        ),
        (
            settled(rotation=record(RotationPhase.PROVISIONED, token=False)),
            actions.Decision(actions=(actions.ProvisionToken(org_id=ORG, integration_id=INTEGRATION),)),
        ),
    ],
    ids=[
        "a rotation rolling out rolls the consumers onto the promoted token first",
        "a rotation rolling out waits for the promoted token to settle like any rollout",
        "a bridge rotation whose consumers all run the promoted token finishes",
        "an in-place rotation whose consumers all run the new token switches",
        "a rotation in another phase is handed to rotation.step as it is, with the integration in custody",
        "a rotation recorded before its provision call provisions for the integration in custody",
    ],
)
def test_a_rotation_in_progress_is_continued(observed: Observed, expected: actions.Decision) -> None:
    assert plan.decide(WANT, observed, now=NOW) == expected


def test_a_rotation_in_progress_does_not_start_another_for_a_new_request() -> None:
    want = desired(rotation=RotationIntent(None, RotationStrategy.BRIDGE, "r2"))
    observed = settled(want, rotation=record(RotationPhase.SWITCHED), consumers=(workload("a", FP),))
    assert plan.decide(want, observed, now=NOW) == actions.Decision(actions=(actions.PromoteProvisional(),))


def test_a_drifted_consumer_secret_is_repaired_before_any_rollout() -> None:
    observed = dataclasses.replace(
        settled(consumers=(workload("a"),)), consumer=SecretState(exists=True, token=TOKEN, controller_uid=WANT.uid)
    )
    (step,) = plan.decide(WANT, observed, now=NOW).actions
    assert step == actions.WriteConsumerSecret(create=False, repairs=("labels", "annotations"))


def test_a_rotation_left_behind_when_the_source_changed_to_a_given_secret_stalls_and_keeps_its_token() -> None:
    # spec.source went from provision to existingSecretRef mid-rotation: the adopted token has no integration, so
    # the rotation can neither continue nor be dropped silently (its provisional token would be lost).
    given = existing()
    observed = dataclasses.replace(
        settled(given, rotation=record(RotationPhase.BRIDGING)),
        custody=custody(given, integration_id=None, integration_type=None),
    )
    observed = dataclasses.replace(observed, source=SecretState(exists=True, token=TOKEN))

    decision = plan.decide(given, observed, now=NOW)

    assert decision.actions == ()
    assert decision.stall is not None and decision.stall.reason == "RotationNeedsProvision"
    assert "github-snykbroker-rotation" in decision.stall.message
    assert NEW_TOKEN.get_secret_value() not in decision.stall.message
