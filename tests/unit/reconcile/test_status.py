"""The status is computed whole from intent, observations and outcome, keeps transition times, and never shows a token;
`invalid` is the status of an object the models refuse."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snyk_broker_operator.models import BrokerTokenStatus, fingerprint_of
from snyk_broker_operator.models.brokertoken_status import MAX_CONSUMERS
from snyk_broker_operator.models.enums import (
    ConditionReason,
    ConsumerKind,
    RotationPhase,
    RotationStrategy,
    RotationTrigger,
    ShareState,
)
from snyk_broker_operator.reconcile import actions, schedule, status
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.observed import Observed, SecretState
from snyk_broker_operator.reconcile.outcome import Failure, Outcome
from snyk_broker_operator.reconcile.rotation import RotationIntent
from support.reconcile_builders import (
    CLONE,
    INTEGRATION,
    NEW_TOKEN,
    NOW,
    OTHER_ORG,
    THIRD_ORG,
    TOKEN,
    TOKEN_VALUES,
    custody,
    desired,
    record,
    workload,
)

TEAM = OTHER_ORG
DESIRED = desired(generation=3, share_with=(TEAM,), secret_labels={"team": "platform"})
CUSTODY = custody(
    origin="org/x/integration/type:github", issued_at=datetime(2026, 11, 29, 11, tzinfo=UTC), clones={TEAM: CLONE}
)
CONVERGED = Observed(custody=CUSTODY, consumer=SecretState.absent(), source=None)
FP = fingerprint_of(TOKEN)


def conditions_of(result: BrokerTokenStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in result.conditions or ()}


def messages_of(result: BrokerTokenStatus) -> dict[str, str]:
    return {c.type: c.message for c in result.conditions or ()}


def compute(
    observed: Observed = CONVERGED,
    outcome: Outcome | None = None,
    previous: BrokerTokenStatus | None = None,
    now: datetime = NOW,
    **changes: Any,
) -> BrokerTokenStatus:
    want = dataclasses.replace(DESIRED, **changes)
    return status.compute_status(
        desired=want, observed=observed, outcome=outcome or Outcome(), previous=previous, now=now
    )


def test_a_converged_token_is_ready_with_its_fingerprint_integration_and_shares() -> None:
    result = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=None, now=NOW)
    assert conditions_of(result) == {
        "Ready": ("True", "Reconciled"),
        "Reconciling": ("False", "Reconciled"),
        "Stalled": ("False", "Reconciled"),
    }
    assert result.token_fingerprint is not None and result.token_fingerprint.startswith("sha256:")
    assert TOKEN.get_secret_value() not in result.model_dump_json()
    assert result.integration_id == INTEGRATION
    assert result.observed_generation == 3
    assert result.shared_with is not None and result.shared_with[0].integration_id == CLONE
    assert result.failed_attempts is None


def test_recomputing_an_unchanged_status_keeps_every_transition_time() -> None:
    first = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=None, now=NOW)
    later = NOW + timedelta(hours=1)
    again = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=first, now=later)
    assert again == first


def test_a_stall_flips_ready_and_stalled_and_counts_a_failure() -> None:
    ready = status.compute_status(desired=DESIRED, observed=CONVERGED, outcome=Outcome(), previous=None, now=NOW)
    stall = actions.Stall(ConditionReason.SECRET_CONFLICT, "Secret 'x' is not ours")
    later = NOW + timedelta(minutes=5)
    stalled = status.compute_status(
        desired=DESIRED, observed=CONVERGED, outcome=Outcome(stall=stall), previous=ready, now=later
    )
    by_type = {c.type: c for c in stalled.conditions or ()}
    assert by_type["Stalled"].status == "True" and by_type["Stalled"].message == "Secret 'x' is not ours"
    assert by_type["Ready"].status == "False" and by_type["Ready"].last_transition_time == later
    assert by_type["Reconciling"].last_transition_time == NOW  # was False, still False
    assert stalled.failed_attempts == 1 and stalled.last_failure_time == later


def test_a_transient_failure_is_reconciling_not_stalled_and_backs_off() -> None:
    failure = Failure(ConditionReason.SNYK_UNAVAILABLE, "Snyk answered 503")
    result = status.compute_status(
        desired=DESIRED, observed=CONVERGED, outcome=Outcome(failure=failure), previous=None, now=NOW
    )
    assert conditions_of(result)["Reconciling"] == ("True", "SnykUnavailable")
    assert conditions_of(result)["Stalled"] == ("False", "SnykUnavailable")
    assert [schedule.backoff_seconds(n) for n in (1, 2, 3, 10)] == [5.0, 10.0, 20.0, 300.0]


def test_a_failure_says_it_is_retried_only_on_reconciling() -> None:
    failure = Failure(ConditionReason.SNYK_UNAVAILABLE, "Snyk answered 503")
    assert messages_of(compute(outcome=Outcome(failure=failure))) == {
        "Ready": "Snyk answered 503",
        "Reconciling": "Snyk answered 503; retrying with backoff",
        "Stalled": "Snyk answered 503",
    }


PROGRESSING = {
    "Ready": ("False", "Progressing"),
    "Reconciling": ("True", "Progressing"),
    "Stalled": ("False", "Progressing"),
}


@pytest.mark.parametrize(
    "observed",
    [
        Observed(custody=None, consumer=SecretState.absent(), source=None),
        Observed(custody=custody(token=None), consumer=SecretState.absent(), source=None, consumers=(workload(),)),
    ],
    ids=["with no custody yet", "with a custody record that holds no token"],
)
def test_without_a_token_the_status_is_progressing_and_shows_no_token_fields(observed: Observed) -> None:
    result = compute(observed, rotation=RotationIntent(timedelta(days=1), RotationStrategy.BRIDGE, None))
    assert conditions_of(result) == PROGRESSING
    assert messages_of(result)["Ready"] == "obtaining the broker token"
    shown = ("integration_id", "token_fingerprint", "revision", "issued_at", "shared_with", "consumers")
    assert {name: getattr(result, name) for name in shown} == dict.fromkeys(shown)
    assert (result.consumers_ready, result.next_rotation_at, result.last_rotate_request) == (None, None, None)


def test_a_pass_with_steps_left_is_progressing_but_shows_the_token_it_has() -> None:
    result = compute(outcome=Outcome(pending=True))
    assert conditions_of(result) == PROGRESSING
    assert (result.token_fingerprint, result.revision, result.issued_at) == (FP, 1, CUSTODY.issued_at)


def test_an_object_seen_for_the_first_time_is_progressing_with_nothing_obtained() -> None:
    first = status.first_status(DESIRED, now=NOW)
    assert conditions_of(first) == PROGRESSING
    assert first == BrokerTokenStatus(observed_generation=3, conditions=first.conditions)
    assert {c.last_transition_time for c in first.conditions or ()} == {NOW}


@pytest.mark.parametrize(
    ("previous_failures", "outcome", "failed_attempts", "failed_at"),
    [
        (None, Outcome(failure=Failure(ConditionReason.SNYK_UNAVAILABLE, "503")), 1, NOW),
        (2, Outcome(failure=Failure(ConditionReason.SNYK_UNAVAILABLE, "503")), 3, NOW),
        (2, Outcome(stall=actions.Stall(ConditionReason.SECRET_CONFLICT, "not ours")), 3, NOW),
        (2, Outcome(stall=actions.Stall(ConditionReason.BRIDGE_UNAVAILABLE, "stuck"), wait_seconds=2.0), None, None),
        (2, Outcome(), None, None),
        (2, Outcome(wait_seconds=2.0), None, None),
    ],
    ids=[
        "a first failure is one failed attempt at this time",
        "a failure adds to the failed attempts before it",
        "a stall that is not polled counts as a failed attempt",
        "a stall that is polled is a wait: the count is cleared, with its time",
        "a converged pass clears the count and its time",
        "a pass waiting on the cluster clears the count and its time",
    ],
)
def test_failed_attempts_count_failures_in_a_row(
    previous_failures: int | None, outcome: Outcome, failed_attempts: int | None, failed_at: datetime | None
) -> None:
    previous = BrokerTokenStatus(failed_attempts=previous_failures, last_failure_time=NOW - timedelta(minutes=1))
    result = compute(outcome=outcome, previous=previous)
    assert (result.failed_attempts, result.last_failure_time) == (failed_attempts, failed_at)


def test_the_next_rotation_is_shown_from_the_issue_time_and_the_interval() -> None:
    result = compute(rotation=RotationIntent(timedelta(days=90), RotationStrategy.BRIDGE, "r1"))
    assert result.next_rotation_at is not None
    assert CUSTODY.issued_at is not None
    assert timedelta(days=90) <= result.next_rotation_at - CUSTODY.issued_at <= timedelta(days=90, minutes=5)
    handled = compute(observed=dataclasses.replace(CONVERGED, custody=custody(last_rotate_request="r1")))
    assert (handled.next_rotation_at, handled.last_rotate_request) == (None, "r1")


def using(*workloads: Workload, **changes: Any) -> Observed:
    return dataclasses.replace(CONVERGED, consumers=workloads, **changes)


ON_TOKEN = workload("a", fingerprint=FP)
BEHIND = workload("b", fingerprint=fingerprint_of(NEW_TOKEN))


def sized(base: Workload, replicas: int, **changes: Any) -> Workload:
    """`base` scaled to `replicas`, all of them rolled and available."""
    n = replicas
    return dataclasses.replace(base, replicas=n, updated_replicas=n, available_replicas=n, total_replicas=n, **changes)


STUCK = workload("c", fingerprint=FP, deadline_exceeded="ReplicaSet c-1 has timed out progressing")


@pytest.mark.parametrize(
    ("observed", "conditions", "message", "ready"),
    [
        (
            using(),
            ("True", "Reconciled", "False", "False"),
            f"token {FP} is in Secret 'github-broker-token'; shared with 1 org(s)",
            "0/0",
        ),
        (
            using(ON_TOKEN, dataclasses.replace(ON_TOKEN, name="a2", ha_mode=False)),
            ("True", "Reconciled", "False", "False"),
            f"token {FP} is in Secret 'github-broker-token'; 2 consumer(s) run it; shared with 1 org(s)",
            "2/2",
        ),
        (
            using(ON_TOKEN, BEHIND),
            ("False", "RollingOut", "True", "False"),
            "1/2 consumers run the current token; waiting for Deployment 'b' (waiting to roll onto the current token)",
            "1/2",
        ),
        (
            using(ON_TOKEN, BEHIND, STUCK),
            ("False", "ConsumerRolloutFailed", "False", "True"),
            "Deployment 'c' cannot roll out: ProgressDeadlineExceeded: ReplicaSet c-1 has timed out progressing",
            "1/3",
        ),
        (
            using(ON_TOKEN, BEHIND, rotation=record(RotationPhase.ROLLING_OUT)),
            ("False", "RollingOut", "True", "False"),
            "1/2 consumers run the current token; waiting for Deployment 'b' (waiting to roll onto the current token)",
            "1/2",
        ),
        (
            using(ON_TOKEN, rotation=record(RotationPhase.BRIDGING)),
            ("True", "Rotating", "True", "False"),
            "rotating (Bridge), phase Bridging; the current token keeps serving",
            "1/1",
        ),
        (
            using(ON_TOKEN, sized(ON_TOKEN, 3, name="a2")),
            ("True", "HAClientLimitExceeded", "False", "False"),
            "2 consumer(s) run it; shared with 1 org(s); 5 broker clients share this token in high-availability mode",
            "2/2",
        ),
        (
            using(
                sized(ON_TOKEN, 3, client_urls=frozenset({"http://a"})),
                sized(ON_TOKEN, 3, name="a2", client_urls=frozenset({"http://b"})),
            ),
            ("True", "HAClientLimitExceeded", "False", "False"),
            "; redundant broker clients of this token use different BROKER_CLIENT_URL values (http://a, http://b)",
            "2/2",
        ),
    ],
    ids=[
        "a token with no consumers is ready with none of them ready",
        "consumers all on the token are ready and counted in the message",
        "a consumer behind the token keeps the status reconciling and says what it waits for",
        "a consumer whose rollout failed stalls the status, and the failure wins over those still rolling",
        "consumers still rolling during a rotation are reported before the rotation",
        "a rotation with its consumers settled is ready and reconciling, and names strategy and phase",
        "too many HA clients stay ready but take the warning as the Ready reason",
        "with both redundancy warnings the first is the reason and the message has both",
    ],
)
def test_consumers_and_rotation_set_the_conditions(
    observed: Observed, conditions: tuple[str, str, str, str], message: str, ready: str
) -> None:
    result = compute(observed)
    by_type = conditions_of(result)
    ready_status, reason, reconciling, stalled = conditions
    assert by_type["Ready"] == (ready_status, reason)
    assert (by_type["Reconciling"][0], by_type["Stalled"][0]) == (reconciling, stalled)
    assert message in messages_of(result)["Ready"]
    assert result.consumers_ready == ready
    assert not any(value in result.model_dump_json() for value in TOKEN_VALUES)


def test_a_consumer_entry_shows_its_rollout_and_only_a_well_formed_fingerprint() -> None:
    garbled = workload("d", fingerprint="not-a-fingerprint", kind="StatefulSet", updated_replicas=1)
    result = compute(using(ON_TOKEN, garbled))
    assert result.consumers is not None
    first, second = result.consumers
    assert (first.kind, first.name, first.fingerprint, first.state, first.reason) == (
        ConsumerKind.DEPLOYMENT,
        "a",
        FP,
        "Current",
        None,
    )
    assert (second.kind, second.fingerprint, second.state, second.reason) == (
        ConsumerKind.STATEFUL_SET,
        None,
        "Pending",
        "TokenChanged",
    )
    assert (second.desired_replicas, second.updated_replicas, second.available_replicas) == (2, 1, 2)


@pytest.mark.parametrize(
    ("token", "provisional"),
    [(True, fingerprint_of(NEW_TOKEN)), (False, None)],
    ids=[
        "a rotation holding its provisional token shows that token's fingerprint",
        "a rotation still provisioning shows none",
    ],
)
def test_a_rotation_in_progress_is_shown(token: bool, provisional: str | None) -> None:
    rec = record(RotationPhase.PROVISIONED, RotationStrategy.IN_PLACE, token=token)
    shown = compute(using(rotation=rec)).rotation
    assert shown is not None
    assert (shown.phase, shown.strategy, shown.trigger, shown.started_at, shown.provisional_fingerprint) == (
        RotationPhase.PROVISIONED,
        RotationStrategy.IN_PLACE,
        RotationTrigger.ANNOTATION,
        rec.started_at,
        provisional,
    )
    assert compute().rotation is None


FOURTH_ORG = "88888888-8888-4888-8888-888888888888"
THEIRS = "77777777-7777-4777-8777-777777777777"
RECORDED = custody(clones={TEAM: CLONE}, conflicts={THIRD_ORG: THEIRS})


@pytest.mark.parametrize(
    ("share_with", "held", "entries"),
    [
        (
            (THIRD_ORG, FOURTH_ORG, TEAM),
            RECORDED,
            [(THIRD_ORG, THEIRS, ShareState.CONFLICT), (TEAM, CLONE, ShareState.SHARED)],
        ),
        ((), RECORDED, None),
        ((FOURTH_ORG,), RECORDED, None),
        ((TEAM,), None, None),
    ],
    ids=[
        "each org of shareWith with a recorded clone or conflict gets an entry, in spec order, others none yet",
        "no shareWith shows no entries, whatever custody recorded",
        "an org not looked at yet shows no entry",
        "without a token nothing is shown as shared",
    ],
)
def test_shared_with_entries(
    share_with: tuple[str, ...], held: Any, entries: list[tuple[str, str, ShareState]] | None
) -> None:
    result = compute(dataclasses.replace(CONVERGED, custody=held), share_with=share_with)
    found = [(e.org_id, e.integration_id, e.state) for e in result.shared_with] if result.shared_with else None
    assert found == entries


def test_a_conflict_says_what_to_do_and_the_ready_message_names_the_org() -> None:
    result = compute(dataclasses.replace(CONVERGED, custody=RECORDED), share_with=(TEAM, THIRD_ORG))
    assert result.shared_with is not None
    shared, conflict = result.shared_with
    assert shared.message is None
    assert conflict.message is not None and "Remove it in Snyk (or from spec.shareWith)" in conflict.message
    assert messages_of(result)["Ready"] == (
        f"token {FP} is in Secret 'github-broker-token'; shared with 1 org(s); not shared with {THIRD_ORG}: "
        "the org already has an integration of this type"
    )


READY = compute()
INVALID = {
    "Ready": ("False", "InvalidSpec"),
    "Reconciling": ("False", "InvalidSpec"),
    "Stalled": ("True", "InvalidSpec"),
}


def test_an_invalid_object_with_no_status_yet_is_stalled_saying_what_is_wrong() -> None:
    result = status.invalid(None, problems="spec.orgId: not a UUID", generation=4, now=NOW)
    assert conditions_of(result) == INVALID
    assert set(messages_of(result).values()) == {"the BrokerToken is invalid: spec.orgId: not a UUID"}
    assert result == BrokerTokenStatus(observed_generation=4, conditions=result.conditions)
    assert all(c.observed_generation == 4 and c.last_transition_time == NOW for c in result.conditions or ())


def test_an_invalid_object_keeps_everything_else_its_previous_status_recorded() -> None:
    later = NOW + timedelta(minutes=3)
    result = status.invalid(READY, problems="bad", generation=4, now=later)
    assert conditions_of(result) == INVALID
    assert result.model_copy(update={"observed_generation": 3, "conditions": READY.conditions}) == READY
    times = {c.type: c.last_transition_time for c in result.conditions or ()}
    assert times == {"Ready": later, "Reconciling": NOW, "Stalled": later}, "Reconciling was False and still is"


def test_an_object_that_stays_invalid_keeps_its_transition_times() -> None:
    first = status.invalid(READY, problems="bad", generation=4, now=NOW + timedelta(minutes=1))
    again = status.invalid(first, problems="bad", generation=4, now=NOW + timedelta(hours=1))
    assert again == first


def test_an_invalid_message_is_cut_to_its_limit() -> None:
    result = status.invalid(None, problems="x" * 10_000, generation=1, now=NOW)
    assert {len(message) for message in messages_of(result).values()} == {status.MAX_INVALID_MESSAGE}


def test_more_consumers_than_the_schema_lists_show_those_behind_first_and_count_them_all() -> None:
    # 100 consumers of one token (the scale benchmark's fan-out): status.consumers holds at most 64 entries, so
    # the 30 still behind are all listed, the rest fill the room, and consumersReady counts all 100.
    on_token = [dataclasses.replace(ON_TOKEN, name=f"on-{i:03d}") for i in range(70)]
    behind = [dataclasses.replace(BEHIND, name=f"behind-{i:03d}") for i in range(30)]
    result = compute(using(*on_token, *behind))
    assert result.consumers is not None
    listed = [entry.name for entry in result.consumers]
    assert len(listed) == MAX_CONSUMERS
    assert {f"behind-{i:03d}" for i in range(30)} <= set(listed)
    assert listed == sorted(listed)
    assert result.consumers_ready == "70/100"
    message = messages_of(result)["Ready"]
    assert message.startswith("70/100 consumers run the current token; waiting for Deployment 'behind-000'")
    assert message.endswith("and 20 more")
    assert message.count("Deployment '") == status.MESSAGE_NAMES
