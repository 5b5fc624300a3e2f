"""Per-BrokerToken metrics: a snapshot of each token's status after every pass, the rotation counters derived from
consecutive snapshots of one token, and a collector that turns the snapshots into gauges at scrape time.

`handlers` records the status each pass leaves (no extra read of the cluster); `TokenMetrics.forget` drops a token
when its loop ends (deleted, or no longer reconciled by this replica), so its series disappear. Ages are computed
from the clock when Prometheus scrapes, so they grow between passes. Everything here is in memory: a restarted
operator starts its counters at zero, which Prometheus' `rate`/`increase` expect of a counter.

Labels carry a BrokerToken's namespace and name, a state or a phase, never a token, a fingerprint or anything
derived from one. Fingerprints are kept in memory only, to tell a completed rotation from an abandoned one.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from snyk_broker_operator.models import BrokerTokenStatus
from snyk_broker_operator.models.enums import ConditionStatus, ConditionType, RotationPhase

Key = tuple[str, str]  # (namespace, name)


class TokenState(enum.StrEnum):
    """The one state a BrokerToken is counted in by `snyk_broker_operator_tokens`. Precedence, first match wins:
    Stalled (the user must act) > Rotating (a rotation is in flight, whatever Ready says: Ready stays True while
    the old token serves) > Ready > Progressing (everything else: no token yet, rolling out, or retrying)."""

    STALLED = "Stalled"
    ROTATING = "Rotating"
    READY = "Ready"
    PROGRESSING = "Progressing"


@dataclasses.dataclass(frozen=True)
class RotationView:
    """The rotation in flight, as the status shows it."""

    # Which rotation this is: a new start time (or trigger, or strategy) is a new rotation.
    identity: tuple[datetime | None, str | None, str | None]
    phase: RotationPhase
    started_at: datetime | None
    # When it entered `phase`, as the rotation Secret records it (None from an operator that did not record it).
    phase_since: datetime | None
    # In memory only, never a label: the rotation completed when this became the token in use.
    provisional_fingerprint: str | None


@dataclasses.dataclass(frozen=True)
class TokenSnapshot:
    """What one pass left in a BrokerToken's status, as far as the metrics need it."""

    state: TokenState = TokenState.PROGRESSING
    stalled: bool = False
    issued_at: datetime | None = None
    next_rotation_at: datetime | None = None
    # Revisions only count rotations for provisioned tokens (an adopted token's revision grows on each adoption).
    revision: int | None = None
    provisioned: bool = False
    # In memory only, never a label (see RotationView.provisional_fingerprint).
    token_fingerprint: str | None = None
    rotation: RotationView | None = None
    consumers_rolled: int = 0
    consumers_pending: int = 0


def snapshot_of(status: BrokerTokenStatus | None, previous: TokenSnapshot | None = None) -> TokenSnapshot:
    """The snapshot of a status. `None` is the pass over an object the models refuse (`engine.cycle` reports it as
    Stalled, InvalidSpec, and returns no status): the previous facts stay, the state becomes Stalled."""
    if status is None:
        return dataclasses.replace(previous or TokenSnapshot(), state=TokenState.STALLED, stalled=True)
    stalled = _is_true(status, ConditionType.STALLED)
    rotation = None
    if status.rotation is not None:
        record = status.rotation
        rotation = RotationView(
            identity=(record.started_at, record.trigger, record.strategy),
            phase=record.phase,
            started_at=record.started_at,
            phase_since=record.phase_since,
            provisional_fingerprint=record.provisional_fingerprint,
        )
    consumers = status.consumers or ()
    current = status.token_fingerprint
    rolled = sum(1 for consumer in consumers if current is not None and consumer.fingerprint == current)
    return TokenSnapshot(
        state=_state(stalled=stalled, rotating=rotation is not None, ready=_is_true(status, ConditionType.READY)),
        stalled=stalled,
        issued_at=status.issued_at,
        next_rotation_at=status.next_rotation_at,
        revision=status.revision,
        provisioned=status.integration_id is not None,
        token_fingerprint=status.token_fingerprint,
        rotation=rotation,
        consumers_rolled=rolled,
        consumers_pending=len(consumers) - rolled,
    )


def _is_true(status: BrokerTokenStatus, condition_type: ConditionType) -> bool:
    found = status.condition(condition_type)
    return found is not None and found.status == ConditionStatus.TRUE


def _state(*, stalled: bool, rotating: bool, ready: bool) -> TokenState:
    if stalled:
        return TokenState.STALLED
    if rotating:
        return TokenState.ROTATING
    return TokenState.READY if ready else TokenState.PROGRESSING


@dataclasses.dataclass(frozen=True)
class Tracked:
    """One BrokerToken as this replica last saw it, with what the rotation counters remember between passes."""

    snapshot: TokenSnapshot
    # When the in-flight rotation entered its current phase (None: no rotation in flight).
    phase_since: datetime | None = None
    # Whether the in-flight rotation was already counted as failed (each rotation counts at most once).
    failure_counted: bool = False


@dataclasses.dataclass(frozen=True)
class RotationChanges:
    started: int = 0
    completed: int = 0
    failed: int = 0


def follow(previous: Tracked | None, current: TokenSnapshot, *, now: datetime) -> tuple[Tracked, RotationChanges]:
    """The token as tracked after a pass, and the rotations that started, completed or failed since the last one.

    - started: a rotation in flight that the previous snapshot did not show.
    - completed: a rotation that is no longer in flight and whose provisional token is the token in use.
    - failed: a rotation in flight whose token is Stalled (the RotationFailed event), or one that ended without
      its token being put in use (abandoned: its rotation Secret deleted); each rotation counts at most once.
    - A whole rotation between two snapshots (possible when no consumer has to roll) shows only as a higher
      revision of a provisioned token: it counts as started and completed.
    The first snapshot of a token (a new object, or the first pass after this replica started) counts nothing:
    what happened before it was counted by whoever saw it.
    """
    rotation = current.rotation
    if previous is None:
        since = _phase_start(rotation, now) if rotation is not None else None
        return Tracked(current, phase_since=since, failure_counted=rotation is not None and current.stalled), (
            RotationChanges()
        )
    before = previous.snapshot
    earlier = before.rotation
    same = earlier is not None and rotation is not None and earlier.identity == rotation.identity
    current_phase = rotation.phase if rotation is not None else None
    started = completed = failed = 0
    gain = _revision_gain(before, current)
    # Revision bumps that the rotations seen here explain; any other bump of a provisioned token is a whole
    # rotation that ran between the two snapshots.
    explained = 0
    if rotation is not None and not same:
        started += 1
        explained += 1 if _in_use(current, rotation) else 0
    if same and rotation is not None and earlier is not None:
        explained += 1 if _in_use(current, rotation) and not _in_use(before, earlier) else 0
    if earlier is not None and not same:
        if _in_use(before, earlier):
            # Its token was already in use (the switch was seen): it completed, whatever came after it.
            completed += 1
        elif _in_use(current, earlier) or gain > explained:
            # Its token is in use now, or a bump no other rotation explains is its own (its provisional token was
            # not known yet when it was last seen).
            completed += 1
            explained += 1
        elif not previous.failure_counted:
            failed += 1
    unseen = max(0, gain - explained)
    started += unseen
    completed += unseen
    failure_counted = previous.failure_counted if same else False
    if rotation is not None and current.stalled and not failure_counted:
        failed += 1
        failure_counted = True
    since = previous.phase_since if same and earlier is not None and earlier.phase == current_phase else None
    if rotation is not None and since is None:
        since = _phase_start(rotation, now)
    tracked = Tracked(current, phase_since=since, failure_counted=failure_counted)
    return tracked, RotationChanges(started=started, completed=completed, failed=failed)


def _in_use(snapshot: TokenSnapshot, rotation: RotationView) -> bool:
    """Whether the rotation's provisional token is the token in use (the rotation put it there)."""
    provisional = rotation.provisional_fingerprint
    return provisional is not None and snapshot.token_fingerprint == provisional


def _revision_gain(before: TokenSnapshot, after: TokenSnapshot) -> int:
    if not (before.provisioned and after.provisioned) or before.revision is None or after.revision is None:
        return 0
    return max(0, after.revision - before.revision)


def _phase_start(rotation: RotationView, now: datetime) -> datetime:
    """When the rotation entered its phase, as its Secret records it (so it survives a restart or a failover). A
    record without it (written by an older operator): the rotation's start for the first phase, else the first time
    this replica saw the phase."""
    if rotation.phase_since is not None:
        return rotation.phase_since
    if rotation.phase == RotationPhase.PROVISIONED and rotation.started_at is not None:
        return rotation.started_at
    return now


PREFIX = "snyk_broker_operator"
TOKEN_LABELS = ("namespace", "name")


class TokenMetrics(Collector):
    """The per-BrokerToken series and the rotation counters; registered in the operator's registry.

    `record` runs in the event loop after each pass; `collect` in the HTTP server's thread: a lock keeps the two
    apart (both are short: no I/O under it)."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[Key, Tracked] = {}
        # No labels: fleet-wide counts, so a deleted BrokerToken leaves no series behind and alerts sum nothing.
        self.rotations_started = Counter(
            f"{PREFIX}_rotations_started_total", "Token rotations this replica saw start.", registry=registry
        )
        self.rotations_completed = Counter(
            f"{PREFIX}_rotations_completed_total",
            "Token rotations this replica saw complete (the provisional token is in use, the rotation is over).",
            registry=registry,
        )
        self.rotations_failed = Counter(
            f"{PREFIX}_rotations_failed_total",
            "Token rotations this replica saw fail: Stalled while in flight, or abandoned without the new token.",
            registry=registry,
        )
        registry.register(self)

    def record(self, key: Key, status: BrokerTokenStatus | None) -> None:
        """What the pass over `key` left in its status (None: the object is invalid, see `snapshot_of`)."""
        with self._lock:
            previous = self._tokens.get(key)
            current = snapshot_of(status, previous.snapshot if previous else None)
            tracked, changes = follow(previous, current, now=self._clock())
            self._tokens[key] = tracked
        self.rotations_started.inc(changes.started)
        self.rotations_completed.inc(changes.completed)
        self.rotations_failed.inc(changes.failed)

    def forget(self, key: Key) -> None:
        """The token is no longer reconciled here (deleted, or the replica stops): its series disappear."""
        with self._lock:
            self._tokens.pop(key, None)

    def describe(self) -> Iterable[Metric]:
        # The names only, so that the registry refuses a clash; no samples without a scrape.
        return list(_families())

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        with self._lock:
            tokens = dict(self._tokens)
        families = _Families(*_families())
        counts = dict.fromkeys(TokenState, 0)
        for (namespace, name), tracked in sorted(tokens.items()):
            token = [namespace, name]
            snapshot = tracked.snapshot
            counts[snapshot.state] += 1
            families.stalled.add_metric(token, 1.0 if snapshot.stalled else 0.0)
            families.consumers_rolled.add_metric(token, snapshot.consumers_rolled)
            families.consumers_pending.add_metric(token, snapshot.consumers_pending)
            if snapshot.issued_at is not None:
                families.age.add_metric(token, _seconds(now - snapshot.issued_at))
            if snapshot.next_rotation_at is not None:
                # Negative once overdue: that is what the "rotation overdue" alert looks for.
                families.next_rotation.add_metric(token, (snapshot.next_rotation_at - now).total_seconds())
            if snapshot.rotation is not None and tracked.phase_since is not None:
                families.phase.add_metric([*token, snapshot.rotation.phase.value], _seconds(now - tracked.phase_since))
        for state in TokenState:
            families.tokens.add_metric([state.value], counts[state])
        return families.all()


def _seconds(delta: timedelta) -> float:
    # A timestamp a little ahead of this clock (another host wrote it) is an age of zero, not a negative one.
    return max(0.0, delta.total_seconds())


@dataclasses.dataclass
class _Families:
    tokens: GaugeMetricFamily
    stalled: GaugeMetricFamily
    phase: GaugeMetricFamily
    age: GaugeMetricFamily
    next_rotation: GaugeMetricFamily
    consumers_rolled: GaugeMetricFamily
    consumers_pending: GaugeMetricFamily

    def all(self) -> list[Metric]:
        return [getattr(self, field.name) for field in dataclasses.fields(self)]


def _families() -> Iterator[GaugeMetricFamily]:
    """Fresh, empty families, in the order of `_Families`."""
    yield GaugeMetricFamily(
        f"{PREFIX}_tokens",
        "BrokerTokens this replica reconciles, by state (Stalled > Rotating > Ready > Progressing: first match).",
        labels=["state"],
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_token_stalled",
        "1 while the BrokerToken is Stalled (the user must act), else 0.",
        labels=TOKEN_LABELS,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_rotation_phase_seconds",
        "Seconds the BrokerToken's rotation in flight has been in its current phase; absent when none is in flight.",
        labels=[*TOKEN_LABELS, "phase"],
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_token_age_seconds",
        "Seconds since the token in use was obtained (status.issuedAt); absent before the first token.",
        labels=TOKEN_LABELS,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_token_next_rotation_seconds",
        "Seconds until the next scheduled rotation (status.nextRotationAt), negative when overdue; absent when the "
        "token has no schedule.",
        labels=TOKEN_LABELS,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_consumers_rolled",
        "Consumer workloads whose pod template carries the current token's fingerprint.",
        labels=TOKEN_LABELS,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_consumers_pending",
        "Consumer workloads not rolled onto the current token yet.",
        labels=TOKEN_LABELS,
    )
