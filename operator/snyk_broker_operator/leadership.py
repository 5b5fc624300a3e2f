"""Leader election on a coordination.k8s.io/v1 Lease: which replica may reconcile, for how long, and what it does
when it can no longer say so.

With two replicas, each runs an `Elector`. Only the one that acquires the Lease starts Kopf (runner); the other polls
the Lease every retry period and watches nothing else. The holder renews it every retry period; when it cannot renew
within the renew deadline (shorter than the lease duration, so it stops before anyone may take over) it must stop
reconciling at once, and the runner exits the process. On SIGTERM it releases the Lease (no holder, a one-second
duration, as client-go's ReleaseOnCancel does) so a standby takes over at its next poll instead of after the lease
duration.

Expiry is judged as client-go judges it, on this process's monotonic clock and never on the holder's timestamps:
a Lease is free when nobody holds it, when we hold it, or when the same version of it has been observed unchanged
for its whole duration. Writes are replaces at the resourceVersion read, so of two candidates only one wins.

The timing decisions are pure functions (`observe`, `decide`, `next_record`, `released`, `renewal_overdue`); the
`Elector` only reads the Lease, asks them, and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import enum
import logging
import math
import signal
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol

from aiohttp import web

from snyk_broker_operator.adapters.kube.errors import Conflict, KubeError
from snyk_broker_operator.adapters.kube.leases import LeaseRecord

logger = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "snyk-broker-operator"
# The process's exit status when it lost the Lease while leading (any non-zero status restarts the container).
EXIT_LEADERSHIP_LOST = 3


@dataclasses.dataclass(frozen=True)
class Timings:
    """client-go's defaults: a holder renews every `retry_period`, gives up `renew_deadline` after its last renewal,
    and a standby takes over `lease_duration` after it last saw the Lease change."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def problems(self) -> list[str]:
        """Why these timings are unsafe (empty when they are fine)."""
        found = []
        if self.retry_period <= 0:
            found.append("the retry period must be positive")
        if self.renew_deadline <= self.retry_period:
            found.append("the renew deadline must be longer than the retry period (a holder must get to retry)")
        if self.lease_duration <= self.renew_deadline:
            # A holder that cannot renew stops at the renew deadline; a standby may take over at the lease duration.
            # Were the deadline the longer, both could reconcile in between.
            found.append("the lease duration must be longer than the renew deadline")
        return found

    @property
    def duration_seconds(self) -> int:
        """The duration written into the Lease (whole seconds, rounded up so it never claims less than it means)."""
        return math.ceil(self.lease_duration)


@dataclasses.dataclass(frozen=True)
class Observation:
    """One version of the Lease, and when (monotonic seconds) this process first saw it."""

    resource_version: str
    holder: str
    duration_seconds: int
    since: float


class Verdict(enum.Enum):
    CREATE = "create"  # there is no Lease yet
    WRITE = "write"  # it is free, or ours: write ourselves in as holder
    WAIT = "wait"  # another holder's Lease is still valid


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """The observation after reading `record` at `now`: its clock restarts only when the Lease changed."""
    if previous is not None and previous.resource_version == record.resource_version:
        return previous
    return Observation(
        resource_version=record.resource_version,
        holder=record.holder,
        duration_seconds=record.duration_seconds,
        since=now,
    )


def decide(identity: str, record: LeaseRecord | None, observation: Observation | None, now: float) -> Verdict:
    """Whether `identity` may write itself into the Lease now (`observation` is of `record`)."""
    if record is None:
        return Verdict.CREATE
    if not record.holder or record.holder == identity:
        return Verdict.WRITE
    if observation is not None and now - observation.since >= observation.duration_seconds:
        return Verdict.WRITE
    return Verdict.WAIT


def next_record(identity: str, record: LeaseRecord | None, now: datetime.datetime, timings: Timings) -> LeaseRecord:
    """The Lease with `identity` as holder, renewed at `now`: a takeover counts a transition and restarts the
    acquire time; a renewal keeps both."""
    if record is not None and record.holder == identity:
        return dataclasses.replace(record, duration_seconds=timings.duration_seconds, renew_time=now)
    return LeaseRecord(
        holder=identity,
        duration_seconds=timings.duration_seconds,
        transitions=record.transitions + 1 if record is not None else 0,
        acquire_time=now,
        renew_time=now,
        resource_version=record.resource_version if record is not None else "",
    )


def released(record: LeaseRecord, now: datetime.datetime) -> LeaseRecord:
    """The Lease given up (client-go's ReleaseOnCancel): no holder, and a one-second duration."""
    return dataclasses.replace(record, holder="", duration_seconds=1, acquire_time=now, renew_time=now)


def renewal_overdue(last_renewed: float, now: float, timings: Timings) -> bool:
    """Whether a holder that last renewed at `last_renewed` (monotonic) must stop leading at `now`."""
    return now - last_renewed >= timings.renew_deadline


def candidate_identity(environ: Mapping[str, str], hostname: str, pid: int) -> str:
    """Who a replica is in the Lease: its pod's name (a container restarted in the same pod is the same candidate,
    and takes its Lease back at once), else the host name and process id (two processes on one host differ)."""
    return environ.get("POD_NAME") or f"{hostname}/{pid}"


class LeaseStore(Protocol):
    async def get(self, namespace: str, name: str) -> LeaseRecord | None: ...

    async def create(self, namespace: str, name: str, record: LeaseRecord) -> str: ...

    async def update(self, namespace: str, name: str, record: LeaseRecord) -> str: ...


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Elector:
    """One candidate for one Lease: `acquire` (returns once leading), `keep` (returns why leadership was lost),
    `release` (on a clean stop)."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        namespace: str,
        name: str,
        identity: str,
        timings: Timings,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime.datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_change: Callable[[bool], None] = lambda leading: None,
    ) -> None:
        self._store = store
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings
        self._monotonic = monotonic
        self._wall = wall
        self._sleep = sleep
        self._on_change = on_change
        self._observation: Observation | None = None
        # Our own last write while leading (its resourceVersion is what a release replaces), and when the round that
        # made it began: the renew deadline counts from before the write, so this holder gives up no later than a
        # standby, which starts its clock only once it has seen the write, may take over.
        self._held: LeaseRecord | None = None
        self._renewed_at = 0.0
        self._last_problem = ""

    @property
    def leading(self) -> bool:
        return self._held is not None

    async def try_acquire_or_renew(self) -> str | None:
        """One round: read the Lease and, if we may, write ourselves in. None when we now hold it; else who holds it,
        in words. Raises KubeError when the API server refused or did not answer."""
        record = await self._store.get(self.namespace, self.name)
        now = self._monotonic()
        if record is not None:
            self._observation = observe(self._observation, record, now)
        verdict = decide(self.identity, record, self._observation, now)
        if verdict is Verdict.WAIT:
            assert record is not None
            return repr(record.holder)
        mine = next_record(self.identity, record, self._wall(), self.timings)
        try:
            if verdict is Verdict.CREATE:
                version = await self._store.create(self.namespace, self.name, mine)
            else:
                version = await self._store.update(self.namespace, self.name, mine)
        except Conflict:
            # Another candidate wrote first (or created it): read again next round.
            return "another candidate, which wrote first"
        self._held = dataclasses.replace(mine, resource_version=version)
        self._renewed_at = now
        self._observation = observe(None, self._held, now)
        return None

    async def acquire(self) -> None:
        """Return once this candidate holds the Lease, trying every retry period."""
        logger.info(
            "Waiting to lead: Lease %s/%s as %r (standby until it is free)", self.namespace, self.name, self.identity
        )
        while True:
            try:
                other = await self.try_acquire_or_renew()
            except KubeError as error:
                self._report(f"Cannot read or write Lease {self.namespace}/{self.name}: {error}", logging.WARNING)
            else:
                if other is None:
                    break
                self._report(f"Lease {self.namespace}/{self.name} is held by {other}; standing by", logging.INFO)
            await self._sleep(self.timings.retry_period)
        assert self._held is not None
        logger.info(
            "Leading: acquired Lease %s/%s as %r (transition %d)",
            self.namespace,
            self.name,
            self.identity,
            self._held.transitions,
        )
        self._on_change(True)

    async def keep(self) -> str:
        """Renew every retry period while leading; return why leadership was lost (the caller must then stop
        reconciling at once): another holder took the Lease, or no renewal succeeded within the renew deadline."""
        while True:
            await self._sleep(self.timings.retry_period)
            now = self._monotonic()
            if renewal_overdue(self._renewed_at, now, self.timings):
                return self._lose(f"no renewal succeeded for {now - self._renewed_at:.1f}s")
            remaining = self._renewed_at + self.timings.renew_deadline - now
            try:
                other = await asyncio.wait_for(self.try_acquire_or_renew(), timeout=remaining)
            except TimeoutError:
                return self._lose(
                    f"a renewal did not finish within the renew deadline ({self.timings.renew_deadline}s)"
                )
            except KubeError as error:
                logger.warning("Could not renew Lease %s/%s (will retry): %s", self.namespace, self.name, error)
                continue
            if other is not None:
                return self._lose(f"the Lease is now held by {other}")

    async def release(self) -> None:
        """Give the Lease up, if we hold it, so a standby takes over at its next poll. Best effort: on failure the
        Lease simply expires."""
        held = self._held
        if held is None:
            return
        self._held = None
        self._on_change(False)
        for _ in range(2):
            try:
                await asyncio.wait_for(
                    self._store.update(self.namespace, self.name, released(held, self._wall())),
                    timeout=self.timings.retry_period,
                )
            except Conflict:
                # A renewal cancelled mid-flight may still have landed: release the version it wrote, if it is ours.
                current = await self._read_quietly()
                if current is None or current.holder != self.identity:
                    return
                held = current
                continue
            except (KubeError, TimeoutError) as error:
                logger.warning(
                    "Could not release Lease %s/%s (it expires instead): %s", self.namespace, self.name, error
                )
                return
            logger.info("Released Lease %s/%s", self.namespace, self.name)
            return

    async def _read_quietly(self) -> LeaseRecord | None:
        try:
            return await asyncio.wait_for(self._store.get(self.namespace, self.name), timeout=self.timings.retry_period)
        except (KubeError, TimeoutError):
            return None

    def _lose(self, reason: str) -> str:
        self._held = None
        self._on_change(False)
        return reason

    def _report(self, problem: str, level: int) -> None:
        # Standing by is logged when what stands in the way changes, not every retry period.
        if problem != self._last_problem:
            logger.log(level, "%s", problem)
            self._last_problem = problem


async def acquire_unless_stopped(elector: Elector) -> bool:
    """`elector.acquire()`, ended by SIGTERM or SIGINT: True once leading, False when stopped while standing by.
    (Kopf installs its own handlers for the same signals once it starts, which replace these.)"""
    loop = asyncio.get_running_loop()
    acquiring = asyncio.ensure_future(elector.acquire())
    stopping = asyncio.Event()
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    for number in stop_signals:
        loop.add_signal_handler(number, stopping.set)
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({acquiring, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for number in stop_signals:
            loop.remove_signal_handler(number)
        stopped.cancel()
        if not acquiring.done():
            acquiring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquiring
    if acquiring.done() and not acquiring.cancelled():
        acquiring.result()
        if not stopping.is_set():
            return True
        # Acquired in the same instant as the stop: hand the Lease straight back.
        await elector.release()
    logger.info("Stopped while standing by")
    return False


@contextlib.asynccontextmanager
async def standby_liveness(endpoint: str | None) -> AsyncIterator[None]:
    """Answer the liveness probe while standing by (Kopf serves it only once leading): a standby that polls the
    Lease is alive, and must not be restarted for waiting. The port is free again when this exits."""
    if not endpoint:
        yield
        return
    parsed = urllib.parse.urlparse(endpoint)

    async def alive(request: web.Request) -> web.Response:
        return web.json_response({"standby": True})

    app = web.Application()
    app.router.add_get(parsed.path or "/", alive)
    server = web.AppRunner(app, handle_signals=False, access_log=None)
    await server.setup()
    try:
        await web.TCPSite(server, parsed.hostname, parsed.port).start()
        yield
    finally:
        await server.cleanup()
