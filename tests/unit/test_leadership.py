"""Leader election: the pure timing decisions as tables, and the Elector on an in-memory Lease store and a fake clock
(two candidates, takeover after expiry, release, a holder that cannot renew)."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from snyk_broker_operator import cli, leadership
from snyk_broker_operator.adapters.kube.errors import Conflict, Unavailable
from snyk_broker_operator.adapters.kube.leases import LeaseRecord
from snyk_broker_operator.leadership import Observation, Timings, Verdict

T0 = datetime.datetime(2026, 12, 4, 6, 0, tzinfo=datetime.UTC)
TIMINGS = Timings()


def lease(holder: str, *, version: str = "1", duration: int = 15, transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder=holder, duration_seconds=duration, transitions=transitions, resource_version=version)


def seen(record: LeaseRecord, since: float) -> Observation:
    return leadership.observe(None, record, since)


@pytest.mark.parametrize(
    ("record", "observation", "now", "verdict"),
    [
        pytest.param(None, None, 0.0, Verdict.CREATE, id="there is no Lease yet: create it"),
        pytest.param(lease(""), seen(lease(""), 0.0), 0.0, Verdict.WRITE, id="a released Lease is free at once"),
        pytest.param(lease("me"), seen(lease("me"), 0.0), 0.0, Verdict.WRITE, id="our own Lease is renewed"),
        pytest.param(
            lease("other"), seen(lease("other"), 0.0), 14.9, Verdict.WAIT, id="another's Lease within its duration"
        ),
        pytest.param(
            lease("other"),
            seen(lease("other"), 0.0),
            15.0,
            Verdict.WRITE,
            id="another's Lease unchanged for its duration",
        ),
        pytest.param(
            lease("other", duration=40),
            seen(lease("other", duration=40), 0.0),
            20.0,
            Verdict.WAIT,
            id="the holder's own duration counts, not ours",
        ),
    ],
)
def test_who_may_write_the_lease(
    record: LeaseRecord | None, observation: Observation | None, now: float, verdict: Verdict
) -> None:
    assert leadership.decide("me", record, observation, now) is verdict


def test_an_observation_restarts_only_when_the_lease_changed() -> None:
    first = leadership.observe(None, lease("other", version="1"), 1.0)
    assert leadership.observe(first, lease("other", version="1"), 9.0).since == 1.0
    assert leadership.observe(first, lease("other", version="2"), 9.0).since == 9.0


def test_a_takeover_counts_a_transition_and_a_renewal_keeps_the_acquire_time() -> None:
    taken = leadership.next_record("me", lease("other", transitions=4), T0, TIMINGS)
    assert (taken.holder, taken.transitions, taken.acquire_time, taken.renew_time) == ("me", 5, T0, T0)
    later = T0 + datetime.timedelta(seconds=2)
    renewed = leadership.next_record("me", taken, later, TIMINGS)
    assert (renewed.transitions, renewed.acquire_time, renewed.renew_time) == (5, T0, later)
    assert leadership.next_record("me", None, T0, TIMINGS).transitions == 0


def test_a_released_lease_has_no_holder_and_a_one_second_duration() -> None:
    gone = leadership.released(lease("me", transitions=3), T0)
    assert (gone.holder, gone.duration_seconds, gone.transitions, gone.renew_time) == ("", 1, 3, T0)


@pytest.mark.parametrize(
    ("since_renewal", "overdue"),
    [pytest.param(9.9, False, id="within the renew deadline"), pytest.param(10.0, True, id="at the renew deadline")],
)
def test_a_holder_stops_at_the_renew_deadline(since_renewal: float, overdue: bool) -> None:
    assert leadership.renewal_overdue(100.0, 100.0 + since_renewal, TIMINGS) is overdue


@pytest.mark.parametrize(
    ("timings", "problem"),
    [
        pytest.param(Timings(), None, id="client-go's defaults are safe"),
        pytest.param(Timings(10, 10, 2), "lease duration", id="a deadline as long as the lease is unsafe"),
        pytest.param(Timings(15, 2, 2), "renew deadline", id="a deadline with no room to retry is refused"),
        pytest.param(Timings(15, 10, 0), "retry period", id="a zero retry period is refused"),
    ],
)
def test_unsafe_timings_are_named(timings: Timings, problem: str | None) -> None:
    found = " ".join(timings.problems())
    assert (problem in found) if problem else not found


def test_a_fractional_lease_duration_is_written_rounded_up() -> None:
    assert Timings(lease_duration=2.5, renew_deadline=2, retry_period=1).duration_seconds == 3


def test_a_replica_is_its_pod_else_its_host_and_process() -> None:
    assert leadership.candidate_identity({"POD_NAME": "op-7d9"}, "host", 12) == "op-7d9"
    assert leadership.candidate_identity({}, "host", 12) == "host/12"


class Store:
    """An in-memory Lease with resourceVersions: a write at a stale version is a Conflict, as on the API server."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.failing = False

    def _check(self) -> None:
        if self.failing:
            raise Unavailable(status=503, reason="ServiceUnavailable", message="down")

    async def get(self, namespace: str, name: str) -> LeaseRecord | None:
        self._check()
        return self.record

    async def create(self, namespace: str, name: str, record: LeaseRecord) -> str:
        self._check()
        if self.record is not None:
            raise Conflict(status=409, reason="AlreadyExists", message="exists")
        return self._write(record)

    async def update(self, namespace: str, name: str, record: LeaseRecord) -> str:
        self._check()
        assert self.record is not None
        if record.resource_version != self.record.resource_version:
            raise Conflict(status=409, reason="Conflict", message="stale")
        return self._write(record)

    def _write(self, record: LeaseRecord) -> str:
        self.version += 1
        self.record = dataclasses.replace(record, resource_version=str(self.version))
        return self.record.resource_version


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime.datetime:
        return T0 + datetime.timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def elector(store: Store, clock: Clock, identity: str, changes: list[bool] | None = None) -> leadership.Elector:
    return leadership.Elector(
        store,
        namespace="ns",
        name="lease",
        identity=identity,
        timings=TIMINGS,
        monotonic=clock.monotonic,
        wall=clock.wall,
        sleep=clock.sleep,
        on_change=(changes if changes is not None else []).append,
    )


async def test_one_candidate_leads_and_the_other_takes_over_when_the_lease_expires() -> None:
    store, clock = Store(), Clock()
    changes: list[bool] = []
    a, b = elector(store, clock, "a", changes), elector(store, clock, "b")
    await a.acquire()
    assert a.leading and changes == [True]
    assert await b.try_acquire_or_renew() == "'a'"
    # a renews for a while: b keeps waiting, however long that lasts.
    for _ in range(10):
        clock.now += 2
        assert await a.try_acquire_or_renew() is None
        assert await b.try_acquire_or_renew() == "'a'"
    # a dies: b takes over once it has seen the same version for the lease duration, not before.
    clock.now += 14
    assert await b.try_acquire_or_renew() == "'a'"
    await b.acquire()
    assert clock.now - 20 - 14 >= 1.0
    assert store.record is not None and (store.record.holder, store.record.transitions) == ("b", 1)


async def test_a_released_lease_is_taken_at_the_next_poll() -> None:
    store, clock = Store(), Clock()
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    await a.acquire()
    assert await b.try_acquire_or_renew() == "'a'"
    await a.release()
    assert not a.leading
    assert await b.try_acquire_or_renew() is None
    assert store.record is not None and store.record.holder == "b"


async def test_a_release_after_a_renewal_it_did_not_see_still_releases() -> None:
    store, clock = Store(), Clock()
    a = elector(store, clock, "a")
    await a.acquire()
    assert store.record is not None
    # A renewal cancelled mid-flight landed after all: the version a remembers is stale.
    store._write(store.record)
    await a.release()
    assert store.record.holder == ""


async def test_a_holder_that_cannot_renew_gives_up_at_the_renew_deadline() -> None:
    store, clock = Store(), Clock()
    changes: list[bool] = []
    a = elector(store, clock, "a", changes)
    await a.acquire()
    store.failing = True
    reason = await a.keep()
    assert "no renewal succeeded" in reason and clock.now == TIMINGS.renew_deadline
    assert clock.now < TIMINGS.lease_duration
    assert changes == [True, False] and not a.leading


async def test_a_holder_whose_lease_was_taken_gives_up_at_once() -> None:
    store, clock = Store(), Clock()
    a = elector(store, clock, "a")
    await a.acquire()
    assert store.record is not None
    store._write(dataclasses.replace(store.record, holder="b"))
    assert "held by 'b'" in await a.keep()
    assert clock.now == TIMINGS.retry_period


async def test_a_standby_waits_through_api_errors() -> None:
    store, clock = Store(), Clock()
    a = elector(store, clock, "a")
    store.failing = True
    with pytest.raises(Unavailable):
        await a.try_acquire_or_renew()
    store.failing = False
    await a.acquire()
    assert a.leading


def test_leader_election_is_on_by_default_with_client_gos_durations() -> None:
    args = cli.build_parser().parse_args(["run", "-A", "--lease-namespace", "ops"])
    options = cli._lease_options(args)
    assert options is not None
    assert (options.name, options.namespace, options.timings) == ("snyk-broker-operator", "ops", Timings(15, 10, 2))


def test_leader_election_can_be_turned_off() -> None:
    assert cli._lease_options(cli.build_parser().parse_args(["run", "-A", "--no-leader-election"])) is None


def test_unsafe_durations_are_refused_before_the_operator_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "-A", "--lease-duration", "5", "--renew-deadline", "10"]) == 2
    assert "lease duration must be longer than the renew deadline" in capsys.readouterr().err
