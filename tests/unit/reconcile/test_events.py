"""Every Event the operator records: `for_step` per action that landed, `for_pass` per pass, each recorded once and
none ever naming a token."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from snyk_broker_operator.models import BrokerTokenStatus, ConsumerStatus, RedundancyWarning, fingerprint_of
from snyk_broker_operator.models.enums import (
    ConditionReason,
    ConsumerKind,
    ConsumerReason,
    ConsumerState,
    EventReason,
    RotationPhase,
    RotationStrategy,
    RotationTrigger,
)
from snyk_broker_operator.reconcile import actions, conditions, events, status
from snyk_broker_operator.reconcile.events import Notice, StepFact
from snyk_broker_operator.reconcile.observed import Custody, Observed, SecretState
from snyk_broker_operator.reconcile.outcome import Outcome
from snyk_broker_operator.reconcile.rotation import RotationRecord
from support.reconcile_builders import (
    CLONE,
    INTEGRATION,
    NEW_TOKEN,
    NOW,
    ORG,
    OTHER_ORG,
    THIRD_ORG,
    TOKEN,
    TOKEN_VALUES,
    custody,
    desired,
    record,
    workload,
)

WANT = desired()
FP = fingerprint_of(TOKEN)
NEW_FP = fingerprint_of(NEW_TOKEN)
THEIRS = "77777777-7777-4777-8777-777777777777"
SECOND_CLONE = "99999999-9999-4999-8999-999999999999"


def seen(
    held: Custody | None = None, rotation: RotationRecord | None = None, bridges: int = 0, **changes: Any
) -> Observed:
    """What a step saw: custody, a rotation record and `bridges` bridge Deployments."""
    observed = Observed(
        custody=held,
        consumer=SecretState.absent(),
        source=None,
        rotation=rotation,
        bridges=tuple(workload(f"b{i}-snykbroker-bridge") for i in range(bridges)),
    )
    return dataclasses.replace(observed, **changes)


@dataclasses.dataclass(frozen=True)
class Step:
    action: actions.Action
    before: Observed
    after: Observed
    events: Sequence[tuple[str, bool]]
    says: tuple[str, ...] = ()
    had_token: bool = True
    facts: frozenset[StepFact] = frozenset()


BRIDGING = record(RotationPhase.BRIDGING)
IN_PLACE_ROLLING = record(RotationPhase.ROLLING_OUT, RotationStrategy.IN_PLACE)
SWITCH = actions.SwitchToken(org_id=ORG, integration_id=INTEGRATION)
ISSUED = [(EventReason.TOKEN_ISSUED, False)]
SHARED = [(EventReason.SHARED_WITH_ORG, False)]
CONFLICT = [(EventReason.SHARE_CONFLICT, True)]
SWITCHED = [(EventReason.TOKEN_SWITCHED, False)]
BRIDGED_AND_SWITCHED = [(EventReason.BRIDGE_READY, False), *SWITCHED]

# Steps whose effect another event tells (or that only read): they record nothing themselves.
SILENT: list[tuple[actions.Action, str]] = [
    (actions.ResolveIntegration(org_id=ORG, integration_id=None, integration_type="github"), "a look-up"),
    (actions.InspectShareTarget(org_id=OTHER_ORG, integration_type="github"), "a share target look-up"),
    (actions.ProvisionToken(org_id=ORG, integration_id=INTEGRATION), "provisioning a token"),
    (actions.EnsureBridges(consumers=("broker",)), "starting bridges"),
    (actions.PromoteProvisional(), "promoting the provisional token"),
]

STEPS = [
    pytest.param(
        Step(
            actions.EnableBroker(org_id=ORG, integration_id=INTEGRATION, integration_type="github", origin="o"),
            seen(),
            seen(custody()),
            ISSUED,
            (f"broker enabled on github integration {INTEGRATION} of org {ORG}; token {FP} is in custody",),
            had_token=False,
        ),
        id="enabling broker issues a token and names the integration, the org and the token's fingerprint",
    ),
    pytest.param(
        Step(
            actions.AdoptExistingToken(origin="secret/given/token"),
            seen(custody()),
            seen(custody(token=NEW_TOKEN)),
            [(EventReason.TOKEN_ADOPTED, False)],
            (f"token {NEW_FP} taken from secret/given/token",),
        ),
        id="adopting a given token names its fingerprint and the Secret it came from",
    ),
    pytest.param(
        Step(
            actions.CloneIntegration(org_id=ORG, integration_id=INTEGRATION, destination_org_id=OTHER_ORG),
            seen(custody()),
            seen(custody(clones={OTHER_ORG: CLONE})),
            SHARED,
            (f"integration cloned into org {OTHER_ORG} as {CLONE}; it uses the same broker token",),
        ),
        id="a clone into another org is shared with that org",
    ),
    pytest.param(
        Step(
            actions.CloneIntegration(org_id=ORG, integration_id=INTEGRATION, destination_org_id=OTHER_ORG),
            seen(),
            seen(custody(clones={OTHER_ORG: CLONE})),
            SHARED,
        ),
        id="a clone seen with no custody before it is still one share",
    ),
    pytest.param(
        Step(
            actions.RecordShare(destination_org_id=THIRD_ORG, integration_id=SECOND_CLONE, ours=True),
            seen(custody(clones={OTHER_ORG: CLONE})),
            seen(custody(clones={OTHER_ORG: CLONE, THIRD_ORG: SECOND_CLONE})),
            SHARED,
            (f"into org {THIRD_ORG} as {SECOND_CLONE}",),
        ),
        id="a clone recorded after an ambiguous call is one share, and the orgs shared before are not told again",
    ),
    pytest.param(
        Step(
            actions.RecordShare(destination_org_id=THIRD_ORG, integration_id=THEIRS, ours=False),
            seen(custody(conflicts={OTHER_ORG: CLONE})),
            seen(custody(conflicts={OTHER_ORG: CLONE, THIRD_ORG: THEIRS})),
            CONFLICT,
            (f"org {THIRD_ORG} already has integration {THEIRS} of this type; left as it is",),
        ),
        id="another org's own integration of the type is a share conflict, a warning",
    ),
    pytest.param(
        Step(
            actions.RecordShare(destination_org_id=THIRD_ORG, integration_id=THEIRS, ours=False),
            seen(custody(conflicts={THIRD_ORG: THEIRS})),
            seen(custody(conflicts={THIRD_ORG: THEIRS})),
            [],
        ),
        id="a share step that recorded nothing new records no event",
    ),
    pytest.param(
        Step(actions.RecordShare(destination_org_id=THIRD_ORG, integration_id=THEIRS, ours=True), seen(), seen(), []),
        id="a share step with no custody after it records no event",
    ),
    pytest.param(
        Step(
            actions.WriteConsumerSecret(create=True, repairs=()),
            seen(custody()),
            seen(custody()),
            [(EventReason.SECRET_WRITTEN, False)],
            ("Secret 'github-broker-token' created",),
            had_token=False,
        ),
        id="the first consumer Secret is written",
    ),
    pytest.param(
        Step(
            actions.WriteConsumerSecret(create=True, repairs=()),
            seen(custody()),
            seen(custody()),
            [(EventReason.SECRET_RESTORED, False)],
            ("Secret 'github-broker-token' restored (recreated)",),
        ),
        id="a consumer Secret deleted after the token was shown is restored by recreating it",
    ),
    pytest.param(
        Step(
            actions.WriteConsumerSecret(create=False, repairs=("token", "labels")),
            seen(custody()),
            seen(custody()),
            [(EventReason.SECRET_RESTORED, False)],
            ("Secret 'github-broker-token' restored (token, labels)",),
        ),
        id="a drifted consumer Secret is restored and the event lists what was repaired",
    ),
    pytest.param(
        Step(
            actions.WriteConsumerSecret(create=False, repairs=("owner",)),
            seen(custody()),
            seen(custody()),
            [(EventReason.SECRET_RESTORED, False)],
            ("restored (owner)",),
            had_token=False,
        ),
        id="an orphaned consumer Secret taken over before any token was shown is restored, not written",
    ),
    pytest.param(
        Step(
            actions.RollConsumer(kind="StatefulSet", name="cache", fingerprint=NEW_FP),
            seen(custody(token=NEW_TOKEN)),
            seen(custody(token=NEW_TOKEN)),
            [(EventReason.ROLLOUT_STARTED, False)],
            (f"StatefulSet 'cache' is rolling onto token {NEW_FP}",),
        ),
        id="rolling a consumer starts its rollout onto the token's fingerprint",
    ),
    pytest.param(
        Step(
            actions.BeginRotation(strategy=RotationStrategy.IN_PLACE, trigger=RotationTrigger.SCHEDULE, request=None),
            seen(custody()),
            seen(custody(), rotation=record(RotationPhase.PROVISIONED, RotationStrategy.IN_PLACE, token=False)),
            [(EventReason.ROTATION_STARTED, False)],
            ("rotation started (InPlace, trigger Schedule)",),
        ),
        id="beginning a rotation names its strategy and trigger",
    ),
    pytest.param(
        Step(
            SWITCH,
            seen(custody(), BRIDGING, bridges=2),
            seen(custody(), BRIDGING, bridges=2),
            BRIDGED_AND_SWITCHED,
            ("2 bridge(s) available on the new token", f"Snyk now routes the integration to token {NEW_FP}"),
        ),
        id="a switch from bridging says the bridges were ready, then that the token switched",
    ),
    pytest.param(
        Step(SWITCH, seen(custody(), IN_PLACE_ROLLING), seen(None, IN_PLACE_ROLLING), SWITCHED),
        id="an in-place switch follows the rollout and only says the token switched",
    ),
    pytest.param(
        Step(SWITCH, seen(custody()), seen(custody(), BRIDGING), SWITCHED),
        id="a switch whose rotation was not seen before says only that the token switched",
    ),
    pytest.param(
        Step(
            SWITCH,
            seen(custody(), BRIDGING, bridges=1),
            seen(custody(), BRIDGING, bridges=1),
            [(EventReason.BRIDGE_READY, False), (EventReason.SWITCH_ASSUMED, False), *SWITCHED],
            (f"the switch to {NEW_FP} is taken as done",),
            facts=frozenset({StepFact.SWITCH_ASSUMED}),
        ),
        id="a switch Snyk had no provisional token for is assumed, and said so between the two other events",
    ),
    pytest.param(
        Step(
            SWITCH,
            seen(custody(), IN_PLACE_ROLLING),
            seen(custody(clones={OTHER_ORG: CLONE, THIRD_ORG: SECOND_CLONE}), IN_PLACE_ROLLING),
            SWITCHED,
            (f"routes the integration and the 2 integration(s) cloned into other orgs to token {NEW_FP}",),
        ),
        id="a switch names how many cloned integrations switched with it",
    ),
    pytest.param(
        Step(
            actions.FinishRotation(),
            seen(custody(token=NEW_TOKEN, revision=2), record(RotationPhase.ROLLING_OUT)),
            seen(custody(token=NEW_TOKEN, revision=2)),
            [(EventReason.ROTATION_COMPLETED, False)],
            (f"revision 2: consumers run token {NEW_FP}",),
        ),
        id="finishing a rotation completes it with the revision and the token's fingerprint",
    ),
    pytest.param(
        Step(
            actions.FinishRotation(),
            seen(custody(token=NEW_TOKEN, revision=3)),
            seen(custody(token=NEW_TOKEN, revision=3, clones={OTHER_ORG: CLONE})),
            [(EventReason.ROTATION_COMPLETED, False)],
            (f"revision 3: consumers run token {NEW_FP}; 1 other org(s) share it",),
        ),
        id="a completed rotation of a shared token says how many orgs share it",
    ),
    *(
        pytest.param(Step(action, seen(custody()), seen(custody()), []), id=f"{what} records no event")
        for action, what in SILENT
    ),
]


def step_events(step: Step) -> list[Notice]:
    return events.for_step(
        step.action, step.before, step.after, desired=WANT, had_token=step.had_token, facts=step.facts
    )


@pytest.mark.parametrize("step", STEPS)
def test_for_step(step: Step) -> None:
    notices = step_events(step)
    assert [(n.reason, n.warning) for n in notices] == step.events
    for fragment in step.says:
        assert any(fragment in n.message for n in notices), (fragment, notices)


@pytest.mark.parametrize("step", STEPS)
def test_no_step_event_ever_names_a_token(step: Step) -> None:
    for notice in step_events(step):
        assert not any(value in notice.message for value in TOKEN_VALUES), notice


def consumer(
    state: ConsumerState, name: str = "broker", kind: ConsumerKind = ConsumerKind.DEPLOYMENT
) -> ConsumerStatus:
    failed = state == ConsumerState.FAILED
    return ConsumerStatus(
        kind=kind,
        name=name,
        fingerprint=NEW_FP,
        state=state,
        reason=ConsumerReason.PROGRESS_DEADLINE_EXCEEDED if failed else None,
        message="ReplicaSet broker-1 has timed out progressing" if failed else None,
    )


def ready_as(reason: ConditionReason, message: str = "token is in Secret") -> BrokerTokenStatus:
    """A Ready status with this reason; a redundancy reason is also in status.warnings, as compute_status puts it."""
    wanted = conditions.kstatus(reason, message, ready=True, reconciling=False, stalled=False)
    warned = (RedundancyWarning(reason=reason, message=message),) if reason in (HA, URLS) else None
    return BrokerTokenStatus(conditions=conditions.merge(None, wanted, generation=1, now=NOW), warnings=warned)


def rolling_with_warning(reason: ConditionReason) -> BrokerTokenStatus:
    """A rollout in progress (Ready=False, RollingOut) while a redundancy warning stands."""
    wanted = conditions.kstatus(ConditionReason.ROLLING_OUT, "rolling", ready=False, reconciling=True, stalled=False)
    return BrokerTokenStatus(
        conditions=conditions.merge(None, wanted, generation=1, now=NOW),
        warnings=(RedundancyWarning(reason=reason, message="5 broker clients"),),
    )


def with_consumers(*entries: ConsumerStatus) -> BrokerTokenStatus:
    return BrokerTokenStatus(consumers=entries)


PENDING, ROLLING, CURRENT, FAILED = (
    ConsumerState.PENDING,
    ConsumerState.ROLLING_OUT,
    ConsumerState.CURRENT,
    ConsumerState.FAILED,
)
COMPLETED = [(EventReason.ROLLOUT_COMPLETED, False)]
ROLLOUT_FAILED = [(EventReason.ROLLOUT_FAILED, True)]
HA = ConditionReason.HA_CLIENT_LIMIT_EXCEEDED
URLS = ConditionReason.CLIENT_URL_MISMATCH
RECONCILED = ConditionReason.RECONCILED


@pytest.mark.parametrize(
    ("previous", "new", "expected"),
    [
        (with_consumers(consumer(ROLLING)), with_consumers(consumer(CURRENT)), COMPLETED),
        (with_consumers(consumer(PENDING)), with_consumers(consumer(CURRENT)), COMPLETED),
        (with_consumers(consumer(CURRENT)), with_consumers(consumer(CURRENT)), []),
        (None, with_consumers(consumer(CURRENT)), []),
        (with_consumers(consumer(PENDING)), with_consumers(consumer(ROLLING)), []),
        (with_consumers(consumer(FAILED)), with_consumers(consumer(CURRENT)), []),
        (with_consumers(consumer(ROLLING)), with_consumers(consumer(FAILED)), ROLLOUT_FAILED),
        (None, with_consumers(consumer(FAILED)), ROLLOUT_FAILED),
        (with_consumers(consumer(FAILED)), with_consumers(consumer(FAILED)), []),
        (
            with_consumers(consumer(ROLLING, kind=ConsumerKind.STATEFUL_SET)),
            with_consumers(consumer(CURRENT)),
            [],
        ),
        (
            with_consumers(consumer(ROLLING, "a"), consumer(PENDING, "b")),
            with_consumers(consumer(CURRENT, "a"), consumer(FAILED, "b")),
            [*COMPLETED, *ROLLOUT_FAILED],
        ),
        (None, ready_as(HA), [(HA, True)]),
        (ready_as(RECONCILED), ready_as(HA), [(HA, True)]),
        (ready_as(HA), ready_as(HA, "another message"), []),
        (ready_as(HA), ready_as(URLS), [(URLS, True)]),
        (ready_as(HA), ready_as(RECONCILED), []),
        (rolling_with_warning(HA), ready_as(HA), []),
        (ready_as(HA), rolling_with_warning(HA), []),
        (BrokerTokenStatus(), ready_as(RECONCILED), []),
        (ready_as(RECONCILED), BrokerTokenStatus(), []),
    ],
    ids=[
        "a consumer that finished rolling out completes its rollout",
        "a consumer that went from pending to current in one pass completes its rollout",
        "a consumer that stays current records nothing",
        "a consumer current the first time it is seen records nothing",
        "a rollout that started records nothing here (RolloutStarted comes from its step)",
        "a consumer that recovered from a failed rollout records no RolloutCompleted",
        "a rollout that fails records RolloutFailed, a warning",
        "a consumer failing the first time it is seen records RolloutFailed",
        "a rollout that stays failed records RolloutFailed only once",
        "consumers are told apart by kind as well as name",
        "each consumer's transition is recorded in the same pass",
        "a redundancy warning in the first status is recorded",
        "a redundancy warning that appears is recorded",
        "a redundancy warning that stays is not recorded again, even with another message",
        "a different redundancy warning is recorded",
        "a redundancy warning that clears records nothing",
        "a redundancy warning that a rollout hid from the Ready reason is not recorded again",
        "a rollout that hides a standing redundancy warning records nothing",
        "a Ready reason that is no warning records nothing",
        "a status with no Ready condition records nothing",
    ],
)
def test_for_pass_records_transitions_once(
    previous: BrokerTokenStatus | None, new: BrokerTokenStatus, expected: list[tuple[str, bool]]
) -> None:
    notices = events.for_pass(previous, new, Outcome(), rotating=False)
    assert [(n.reason, n.warning) for n in notices] == expected
    assert not any(value in n.message for n in notices for value in TOKEN_VALUES)


def test_transition_events_name_the_consumer_the_token_and_the_failure() -> None:
    (completed,) = events.for_pass(
        with_consumers(consumer(ROLLING)), with_consumers(consumer(CURRENT)), Outcome(), rotating=False
    )
    assert completed.message == f"Deployment 'broker' runs token {NEW_FP}"
    (failed,) = events.for_pass(None, with_consumers(consumer(FAILED, "cache")), Outcome(), rotating=False)
    assert failed.message == (
        "Deployment 'cache' cannot roll out: ProgressDeadlineExceeded: ReplicaSet broker-1 has timed out progressing"
    )
    (warning,) = events.for_pass(None, ready_as(HA, "5 broker clients share this token"), Outcome(), rotating=False)
    assert (warning.reason, warning.message) == (HA, "5 broker clients share this token")
    assert isinstance(warning.reason, ConditionReason)


STALL = actions.Stall(ConditionReason.SECRET_CONFLICT, "Secret 'github-broker-token' already exists")
OTHER_STALL = actions.Stall(ConditionReason.BRIDGE_UNAVAILABLE, "bridge 'b' cannot become available")
CONVERGED = seen(custody())


def after(outcome: Outcome, previous: BrokerTokenStatus | None = None) -> BrokerTokenStatus:
    """The status a pass with `outcome` computes."""
    return status.compute_status(desired=WANT, observed=CONVERGED, outcome=outcome, previous=previous, now=NOW)


STALLED = after(Outcome(stall=STALL))
READY = after(Outcome())
NEW_STALL = [(STALL.reason, True)]
FAILED_ROTATION = [(OTHER_STALL.reason, True), (EventReason.ROTATION_FAILED, True)]


@pytest.mark.parametrize(
    ("previous", "outcome", "rotating", "expected"),
    [
        (None, Outcome(stall=STALL), False, NEW_STALL),
        (READY, Outcome(stall=STALL), False, NEW_STALL),
        (STALLED, Outcome(stall=STALL), False, []),
        (STALLED, Outcome(stall=STALL), True, []),
        (STALLED, Outcome(stall=dataclasses.replace(STALL, message="Secret 'x' already exists")), False, NEW_STALL),
        (READY, Outcome(stall=OTHER_STALL, wait_seconds=2.0), True, FAILED_ROTATION),
        (STALLED, Outcome(stall=OTHER_STALL, wait_seconds=2.0), True, FAILED_ROTATION),
        (after(Outcome(stall=OTHER_STALL, wait_seconds=2.0)), Outcome(stall=OTHER_STALL, wait_seconds=2.0), True, []),
        (STALLED, Outcome(), True, []),
    ],
    ids=[
        "a first pass that stalls records the stall as one warning",
        "a new stall after a ready pass records one warning",
        "the same stall again records nothing",
        "the same stall again during a rotation records nothing, not even RotationFailed",
        "the same reason with another message is a new stall",
        "a stall during a rotation also records RotationFailed with the same message",
        "another stall replacing the previous one during a rotation records both events",
        "a polled rotation stall is recorded once, not on every poll",
        "a pass that is no longer stalled records nothing for the old stall",
    ],
)
def test_for_pass_records_a_stall_once(
    previous: BrokerTokenStatus | None, outcome: Outcome, rotating: bool, expected: list[tuple[str, bool]]
) -> None:
    new = after(outcome, previous)
    notices = events.for_pass(previous, new, outcome, rotating=rotating)
    assert [(n.reason, n.warning) for n in notices] == expected
    assert all(n.message == outcome.stall.message for n in notices if outcome.stall is not None)
    assert not any(value in n.message for n in notices for value in TOKEN_VALUES)
