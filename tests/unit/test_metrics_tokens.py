"""The per-BrokerToken metrics: from the status a pass leaves, to a snapshot, to rotation counters (transitions
between consecutive snapshots of one token) and to the gauges a scrape computes from a clock.

Everything goes through `Metrics` and its registry as Prometheus would see it (sample values and the text page).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest

from snyk_broker_operator.metrics import Metrics
from snyk_broker_operator.models import BrokerTokenStatus
from snyk_broker_operator.token_metrics import TokenState, snapshot_of

T0 = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
OLD_FP = "sha256:0123456789ab"
NEW_FP = "sha256:ba9876543210"
NEWER_FP = "sha256:aaaaaaaaaaaa"
INTEGRATION = "1a000000-0000-4000-8000-0000000000a1"
KEY = ("team-a", "github")
OTHER = ("team-b", "gitlab")
PREFIX = "snyk_broker_operator"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def condition(kind: str, true: bool) -> dict[str, Any]:
    return {"type": kind, "status": "True" if true else "False", "reason": "Reconciled", "lastTransitionTime": T0}


def status(
    *,
    ready: bool = True,
    stalled: bool = False,
    fingerprint: str | None = OLD_FP,
    revision: int | None = 1,
    issued_at: datetime | None = T0,
    next_rotation_at: datetime | None = None,
    rotation: dict[str, Any] | None = None,
    consumers: tuple[str | None, ...] = (),
    integration_id: str | None = INTEGRATION,
) -> BrokerTokenStatus:
    """A status as a pass writes it; `consumers` are the fingerprints their pod templates carry."""
    return BrokerTokenStatus.model_validate(
        {
            "conditions": [
                condition("Ready", ready),
                condition("Reconciling", not ready and not stalled),
                condition("Stalled", stalled),
            ],
            "integrationId": integration_id,
            "tokenFingerprint": fingerprint,
            "revision": revision,
            "issuedAt": issued_at,
            "nextRotationAt": next_rotation_at,
            "rotation": rotation,
            "consumers": [
                {"kind": "Deployment", "name": f"broker-{index}", "fingerprint": carried, "state": "Current"}
                for index, carried in enumerate(consumers)
            ]
            or None,
        }
    )


def rotation(phase: str, *, provisional: str | None = NEW_FP, started: datetime = T0) -> dict[str, Any]:
    return {
        "phase": phase,
        "strategy": "Bridge",
        "startedAt": started,
        "trigger": "Annotation",
        "provisionalFingerprint": provisional,
    }


def value(metrics: Metrics, series: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"{PREFIX}_{series}", labels)


def rotations(metrics: Metrics) -> tuple[float | None, ...]:
    return tuple(value(metrics, f"rotations_{what}_total") for what in ("started", "completed", "failed"))


def token(key: tuple[str, str] = KEY) -> dict[str, str]:
    return {"namespace": key[0], "name": key[1]}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics(clock: Clock) -> Metrics:
    return Metrics(clock=clock)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(status(stalled=True, ready=False, rotation=rotation("Bridging")), TokenState.STALLED,
                     id="a stalled rotation is Stalled: the user must act"),
        pytest.param(status(ready=True, rotation=rotation("Bridging")), TokenState.ROTATING,
                     id="a rotation in flight is Rotating although Ready stays true"),
        pytest.param(status(ready=True), TokenState.READY, id="ready with no rotation is Ready"),
        pytest.param(status(ready=False, fingerprint=None, revision=None, issued_at=None), TokenState.PROGRESSING,
                     id="no token yet is Progressing"),
        pytest.param(status(ready=False), TokenState.PROGRESSING,
                     id="not ready and not stalled (rolling out, retrying) is Progressing"),
    ],
)  # fmt: skip
def test_each_token_is_in_exactly_one_state(given: BrokerTokenStatus, expected: TokenState) -> None:
    assert snapshot_of(given).state is expected


def test_an_invalid_object_is_stalled_and_keeps_what_was_known_of_it() -> None:
    before = snapshot_of(status(issued_at=T0, consumers=(OLD_FP,)))
    after = snapshot_of(None, before)
    assert after.state is TokenState.STALLED and after.stalled
    assert after.issued_at == T0 and after.consumers_rolled == 1
    assert snapshot_of(None).state is TokenState.STALLED


def test_every_state_is_exported_even_with_no_token_and_each_token_counts_once(metrics: Metrics) -> None:
    assert {state.value: value(metrics, "tokens", state=state.value) for state in TokenState} == {
        "Stalled": 0.0,
        "Rotating": 0.0,
        "Ready": 0.0,
        "Progressing": 0.0,
    }
    metrics.tokens.record(KEY, status(ready=True))
    metrics.tokens.record(OTHER, status(stalled=True, ready=False))
    metrics.tokens.record(("team-c", "jira"), status(ready=True))
    assert value(metrics, "tokens", state="Ready") == 2.0
    assert value(metrics, "tokens", state="Stalled") == 1.0
    assert value(metrics, "tokens", state="Rotating") == 0.0
    assert value(metrics, "token_stalled", **token(OTHER)) == 1.0
    assert value(metrics, "token_stalled", **token(KEY)) == 0.0


def test_the_token_age_is_computed_at_scrape_time_and_grows_between_passes(metrics: Metrics, clock: Clock) -> None:
    metrics.tokens.record(KEY, status(issued_at=T0))
    clock.advance(90)
    assert value(metrics, "token_age_seconds", **token()) == 90.0
    clock.advance(30)
    assert value(metrics, "token_age_seconds", **token()) == 120.0


def test_an_issue_time_ahead_of_the_clock_is_an_age_of_zero(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status(issued_at=T0 + timedelta(seconds=5)))
    assert value(metrics, "token_age_seconds", **token()) == 0.0


def test_the_next_rotation_counts_down_and_goes_negative_when_overdue(metrics: Metrics, clock: Clock) -> None:
    metrics.tokens.record(KEY, status(next_rotation_at=T0 + timedelta(hours=1)))
    assert value(metrics, "token_next_rotation_seconds", **token()) == 3600.0
    clock.advance(3600 + 42)
    assert value(metrics, "token_next_rotation_seconds", **token()) == -42.0


def test_a_token_without_a_schedule_or_a_token_has_no_age_and_no_next_rotation(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status(ready=False, fingerprint=None, revision=None, issued_at=None))
    assert value(metrics, "token_age_seconds", **token()) is None
    assert value(metrics, "token_next_rotation_seconds", **token()) is None
    assert value(metrics, "token_stalled", **token()) == 0.0


def test_consumers_carrying_the_current_fingerprint_are_rolled_the_others_pending(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status(consumers=(OLD_FP, OLD_FP, NEW_FP, None)))
    assert value(metrics, "consumers_rolled", **token()) == 2.0
    assert value(metrics, "consumers_pending", **token()) == 2.0
    metrics.tokens.record(OTHER, status())
    assert value(metrics, "consumers_rolled", **token(OTHER)) == 0.0
    assert value(metrics, "consumers_pending", **token(OTHER)) == 0.0


def test_a_forgotten_token_leaves_no_series_and_no_count(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status(next_rotation_at=T0, rotation=rotation("Bridging"), consumers=(OLD_FP,)))
    metrics.tokens.record(OTHER, status())
    metrics.tokens.forget(KEY)
    page = generate_latest(metrics.registry).decode()
    assert 'name="github"' not in page
    assert 'name="gitlab"' in page
    assert value(metrics, "tokens", state="Rotating") == 0.0
    assert value(metrics, "tokens", state="Ready") == 1.0
    metrics.tokens.forget(KEY)  # forgetting twice (the loop ends after a deletion already seen) is harmless


def test_a_bridge_rotation_starts_moves_through_its_phases_and_completes(metrics: Metrics, clock: Clock) -> None:
    metrics.tokens.record(KEY, status())
    assert rotations(metrics) == (0.0, 0.0, 0.0)
    assert value(metrics, "rotation_phase_seconds", **token(), phase="Provisioned") is None

    clock.advance(3)
    metrics.tokens.record(KEY, status(rotation=rotation("Provisioned", provisional=None)))
    assert rotations(metrics) == (1.0, 0.0, 0.0)
    # The first phase started when the rotation did (recorded in its Secret), 3 s ago.
    assert value(metrics, "rotation_phase_seconds", **token(), phase="Provisioned") == 3.0

    clock.advance(2)
    metrics.tokens.record(KEY, status(rotation=rotation("Bridging")))
    clock.advance(5)
    metrics.tokens.record(KEY, status(rotation=rotation("Bridging")))
    clock.advance(1)
    assert value(metrics, "rotation_phase_seconds", **token(), phase="Bridging") == 6.0
    assert value(metrics, "rotation_phase_seconds", **token(), phase="Provisioned") is None

    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2, rotation=rotation("RollingOut")))
    assert value(metrics, "rotation_phase_seconds", **token(), phase="RollingOut") == 0.0
    assert rotations(metrics) == (1.0, 0.0, 0.0), "the switch alone does not complete the rotation"

    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2))
    assert rotations(metrics) == (1.0, 1.0, 0.0)
    assert "rotation_phase_seconds{" not in generate_latest(metrics.registry).decode()


def test_a_rotation_that_stalls_counts_as_failed_once_and_completes_after_recovering(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(rotation=rotation("Bridging")))
    metrics.tokens.record(KEY, status(ready=False, stalled=True, rotation=rotation("Bridging")))
    metrics.tokens.record(KEY, status(ready=False, stalled=True, rotation=rotation("Bridging")))
    assert rotations(metrics) == (1.0, 0.0, 1.0)
    assert value(metrics, "token_stalled", **token()) == 1.0
    metrics.tokens.record(KEY, status(rotation=rotation("Bridging")))
    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2))
    assert rotations(metrics) == (1.0, 1.0, 1.0)


def test_a_rotation_abandoned_without_its_token_counts_as_failed(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(rotation=rotation("Provisioned", provisional=None)))
    metrics.tokens.record(KEY, status())
    assert rotations(metrics) == (1.0, 0.0, 1.0)


def test_a_stalled_rotation_that_is_then_abandoned_fails_only_once(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(stalled=True, ready=False, rotation=rotation("Provisioned", provisional=None)))
    metrics.tokens.record(KEY, status(stalled=True, ready=False))
    assert rotations(metrics) == (1.0, 0.0, 1.0)


def test_a_rotation_completed_within_one_pass_counts_as_started_and_completed(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2))
    assert rotations(metrics) == (1.0, 1.0, 0.0)


def test_a_completed_rotation_followed_at_once_by_the_next_counts_both(metrics: Metrics) -> None:
    later = T0 + timedelta(minutes=5)
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(rotation=rotation("Bridging")))
    metrics.tokens.record(
        KEY, status(fingerprint=NEW_FP, revision=2, rotation=rotation("Provisioned", provisional=None, started=later))
    )
    assert rotations(metrics) == (2.0, 1.0, 0.0)
    metrics.tokens.record(KEY, status(fingerprint=NEWER_FP, revision=3))
    assert rotations(metrics) == (2.0, 2.0, 0.0)


def test_a_new_rotation_seen_after_its_switch_is_not_counted_twice(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2, rotation=rotation("RollingOut")))
    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2))
    assert rotations(metrics) == (1.0, 1.0, 0.0)


def test_an_adopted_token_replaced_in_its_secret_is_no_rotation(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status(integration_id=None))
    metrics.tokens.record(KEY, status(integration_id=None, fingerprint=NEW_FP, revision=2))
    assert rotations(metrics) == (0.0, 0.0, 0.0)


def test_what_was_in_flight_before_this_replica_saw_the_token_is_not_counted(metrics: Metrics, clock: Clock) -> None:
    clock.advance(60)
    metrics.tokens.record(KEY, status(stalled=True, ready=False, rotation=rotation("Bridging")))
    metrics.tokens.record(KEY, status(stalled=True, ready=False, rotation=rotation("Bridging")))
    assert rotations(metrics) == (0.0, 0.0, 0.0)
    # A later phase is timed from when this replica first saw it; only the first phase has a recorded start.
    assert value(metrics, "rotation_phase_seconds", **token(), phase="Bridging") == 0.0
    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2))
    assert rotations(metrics) == (0.0, 1.0, 0.0)


def test_a_phase_is_timed_from_when_the_rotation_secret_says_it_began_even_on_a_new_replica(
    metrics: Metrics, clock: Clock
) -> None:
    clock.advance(600)
    bridging_since = T0 + timedelta(seconds=200)  # recorded by the replica that led before a failover
    metrics.tokens.record(KEY, status(rotation={**rotation("Bridging"), "phaseSince": bridging_since}))
    assert value(metrics, "rotation_phase_seconds", **token(), phase="Bridging") == 400.0


def test_an_invalid_object_keeps_its_series_as_stalled(metrics: Metrics, clock: Clock) -> None:
    metrics.tokens.record(KEY, status(issued_at=T0))
    clock.advance(10)
    metrics.tokens.record(KEY, None)
    assert value(metrics, "token_stalled", **token()) == 1.0
    assert value(metrics, "tokens", state="Stalled") == 1.0
    assert value(metrics, "token_age_seconds", **token()) == 10.0


def test_the_page_names_namespaces_and_names_but_never_a_fingerprint(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status(consumers=(OLD_FP, NEW_FP), rotation=rotation("Bridging")))
    page = generate_latest(metrics.registry).decode()
    assert 'name="github",namespace="team-a"' in page
    for fingerprint in (OLD_FP, NEW_FP):
        assert fingerprint not in page and fingerprint.removeprefix("sha256:") not in page


def test_reconcile_passes_are_counted_and_timed_by_kind_and_outcome(metrics: Metrics) -> None:
    metrics.passed("BrokerToken", "converged", 0.25)
    metrics.passed("BrokerToken", "stalled", 1.5)
    assert value(metrics, "reconcile_passes_total", kind="BrokerToken", outcome="converged") == 1.0
    assert value(metrics, "reconcile_duration_seconds_count", kind="BrokerToken", outcome="stalled") == 1.0
    assert value(metrics, "reconcile_duration_seconds_sum", kind="BrokerToken", outcome="converged") == 0.25


def test_a_rotation_seen_switched_then_a_whole_one_after_it_count_as_two(metrics: Metrics) -> None:
    metrics.tokens.record(KEY, status())
    metrics.tokens.record(KEY, status(fingerprint=NEW_FP, revision=2, rotation=rotation("RollingOut")))
    metrics.tokens.record(KEY, status(fingerprint=NEWER_FP, revision=3))
    assert rotations(metrics) == (2.0, 2.0, 0.0)
