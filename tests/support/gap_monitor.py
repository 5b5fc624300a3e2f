"""Service continuity of a Snyk integration through the real broker server, sampled every 10 ms.

Two kinds of thread, so that a hung request never hides a gap:
- a poller reads the simulator's current and provisional token of the integration every `interval`
  (GET /_sim/integrations/<id>), and starts a prober for every token it sees;
- one prober per token sends, every `interval` and without waiting for earlier probes to finish, a probe: is a
  client holding the token (connection-status, 0.5 s timeout), and does a request relayed through it reach the
  origin (2 s timeout).

A probe is good when both succeed; one whose connection-status timed out is inconclusive (the server answers that
from memory: only a starved machine is that slow) and not judged. A probe is judged against the token the simulator
treated as current when it started (when its requests were sent); probes of other tokens do not count. A gap is the
time a run of failed probes of the current token is evidenced: from the start of the last good probe before it to
the start of the next good one, except that a stretch with no probe sent at all (the machine stalled the sampler)
counts only up to one cadence past a failed probe; such stretches are reported apart. A probe that hangs until its
timeout is a failed one.
Tokens stay in memory: reports and failure messages name fingerprints only.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import hashlib
import itertools
import json
import threading
import time
from pathlib import Path

import httpx

CONNECTION_TIMEOUT = 0.5
RELAY_TIMEOUT = 2.0
MAX_IN_FLIGHT = 32
PROVISIONAL_INTERVAL = 0.1


def fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    token: str = dataclasses.field(repr=False)
    started: float
    ended: float
    connected: bool
    relayed: bool
    # connection-status did not answer in time: the server answers it from memory, never through a client, so a
    # slow answer means a starved machine, not a missing client; such a probe tells nothing and is not judged.
    inconclusive: bool = False

    @property
    def good(self) -> bool:
        return self.connected and self.relayed


@dataclasses.dataclass(frozen=True)
class GapReport:
    strategy: str
    duration_s: float
    samples: int  # simulator samples (every `interval`)
    probes_of_current: int  # probes judged against the current token
    failed_probes: int
    inconclusive_probes: int  # connection-status timed out (a starved machine): not judged
    longest_gap_ms: float
    gaps_over_150ms: int
    longest_sampling_pause_ms: float
    skipped_ticks: int  # probe ticks missed because MAX_IN_FLIGHT probes of that token were still running
    current_tokens: list[str]  # fingerprints, in the order the simulator made them current

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class _Prober(threading.Thread):
    """Starts a probe of one token every `interval`, each on a worker of its own (at most MAX_IN_FLIGHT at once), so a
    request that hangs on a stopping client delays no later probe: those go out on time and show whether the token
    is still served."""

    def __init__(self, server_url: str, token: str, interval: float, stop: threading.Event) -> None:
        super().__init__(name=f"prober-{fingerprint(token)}", daemon=True)
        self.server_url, self.token, self.interval, self.stop_event = server_url, token, interval, stop
        # Set by the poller: "current" (every interval), "provisional" (every PROVISIONAL_INTERVAL, warming up for
        # the switch) or "retired" (no longer sent to by Snyk: the prober stops, sparing the machine's two cores).
        self.role = "current"
        self.results: list[ProbeResult] = []
        self.skipped = 0  # cadence ticks with every worker busy
        self._lock = threading.Lock()
        self._sequence = itertools.count()

    def run(self) -> None:
        # Fresh connections per request: a pooled connection to a stopping client must not carry the next probe.
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=0)
        with (
            httpx.Client(base_url=self.server_url, limits=limits) as http,
            concurrent.futures.ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix=self.name) as pool,
        ):
            in_flight: set[concurrent.futures.Future[None]] = set()
            next_at = time.monotonic()
            while not self.stop_event.is_set() and self.role != "retired":
                in_flight = {f for f in in_flight if not f.done()}
                if len(in_flight) < MAX_IN_FLIGHT:
                    in_flight.add(pool.submit(self._probe, http))
                else:
                    self.skipped += 1
                interval = self.interval if self.role == "current" else PROVISIONAL_INTERVAL
                next_at = max(next_at + interval, time.monotonic())  # after a stall, do not burst to catch up
                self.stop_event.wait(max(0.0, next_at - time.monotonic()))

    def _probe(self, http: httpx.Client) -> None:
        started = time.monotonic()
        connected = relayed = inconclusive = False
        try:
            try:
                status = http.get(f"/connection-status/{self.token}", timeout=CONNECTION_TIMEOUT).status_code
            except httpx.TimeoutException:
                inconclusive = True
                raise
            connected = status == 200
            if connected:
                relay = http.get(f"/broker/{self.token}/probe/{next(self._sequence)}", timeout=RELAY_TIMEOUT)
                relayed = relay.status_code == 200 and "origin-ok" in relay.text
        except httpx.HTTPError:
            pass
        with self._lock:
            self.results.append(ProbeResult(self.token, started, time.monotonic(), connected, relayed, inconclusive))

    def snapshot(self) -> list[ProbeResult]:
        with self._lock:
            return list(self.results)


class GapMonitor:
    """Samples one integration's service continuity from `start()` to `stop()`; `report()` judges it."""

    def __init__(self, *, server_url: str, admin_url: str, integration_id: str, interval: float = 0.01) -> None:
        self.server_url, self.admin_url, self.integration_id = server_url, admin_url, integration_id
        self.interval = interval
        self._stop = threading.Event()
        self._probers: dict[str, _Prober] = {}
        self.timeline: list[tuple[float, str | None]] = []  # (monotonic time, current token)
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._poll, name="gap-monitor", daemon=True)
        self.started = self.ended = 0.0

    def __enter__(self) -> GapMonitor:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for prober in list(self._probers.values()):
            prober.join(timeout=RELAY_TIMEOUT + CONNECTION_TIMEOUT + 2)
        self.ended = time.monotonic()

    def _poll(self) -> None:
        with httpx.Client(base_url=self.admin_url, timeout=2) as admin:
            while not self._stop.is_set():
                try:
                    integration = admin.get(f"/integrations/{self.integration_id}").json()
                except (httpx.HTTPError, ValueError) as error:
                    self.errors.append(type(error).__name__)
                else:
                    current, provisional = integration.get("token"), integration.get("provisionalToken")
                    self.timeline.append((time.monotonic(), current))
                    for token in (current, provisional):
                        if token and token not in self._probers:
                            prober = self._probers[token] = _Prober(self.server_url, token, self.interval, self._stop)
                            prober.start()
                    for token, prober in self._probers.items():
                        prober.role = {current: "current", provisional: "provisional"}.get(token, "retired")
                self._stop.wait(self.interval)

    def good_probes(self, token: str) -> int:
        prober = self._probers.get(token)
        return sum(1 for r in prober.snapshot() if r.good) if prober else 0

    def _judged(self) -> list[ProbeResult]:
        """Every probe of the token that was current when it started, in start order."""
        times = [t for t, _ in self.timeline]
        judged = []
        for prober in self._probers.values():
            for result in prober.snapshot():
                index = bisect.bisect_right(times, result.started) - 1
                if index >= 0 and self.timeline[index][1] == result.token and not result.inconclusive:
                    judged.append(result)
        return sorted(judged, key=lambda r: r.started)

    def dump(self, path: Path) -> None:
        """Every probe as a JSON line (seconds since start, duration, token fingerprint, verdicts, whether judged),
        and every change of the current token: for reading a failure. Fingerprints only."""
        judged = {id(r) for r in self._judged()}
        with path.open("w") as out:
            changes = [
                (t, token) for i, (t, token) in enumerate(self.timeline) if i == 0 or self.timeline[i - 1][1] != token
            ]
            for at, token in changes:
                out.write(json.dumps({"at": round(at - self.started, 3), "current": fingerprint(token or "")}) + "\n")
            for prober in self._probers.values():
                for r in prober.snapshot():
                    line = {"at": round(r.started - self.started, 3), "ms": round((r.ended - r.started) * 1000, 1),
                            "token": fingerprint(r.token), "connected": r.connected, "relayed": r.relayed,
                            "inconclusive": r.inconclusive, "judged": id(r) in judged}  # fmt: skip
                    out.write(json.dumps(line) + "\n")

    def _gaps(self, judged: list[ProbeResult]) -> list[float]:
        """For each run of failed probes between two good ones: the time the failure is evidenced, from the last good
        probe (or one cadence before the first failed one, if later) to the next good probe (or one cadence after the
        last failed one, if sooner). While probes go out every 10 ms this is simply good-to-good; a stall of the
        sampler after a lone failed probe (no probe sent at all, the machine starved) is not counted as a gap."""
        gaps: list[float] = []
        last_good = self.started
        failed: list[ProbeResult] = []
        for result in [*judged, None]:
            if result is not None and not result.good:
                failed.append(result)
                continue
            next_good = result.started if result is not None else self.ended
            if failed:
                begin = max(last_good, failed[0].started - self.interval)
                gaps.append(min(next_good, failed[-1].started + self.interval) - begin)
            failed = []
            last_good = next_good
        return gaps

    def report(self, strategy: str) -> GapReport:
        judged = self._judged()
        gaps = self._gaps(judged)
        moments = sorted([self.started, self.ended, *(r.started for r in judged)])
        pauses = [b - a for a, b in itertools.pairwise(moments)]
        current: list[str] = []
        for _, token in self.timeline:
            if token and (not current or current[-1] != fingerprint(token)):
                current.append(fingerprint(token))
        return GapReport(
            strategy=strategy,
            duration_s=round(self.ended - self.started, 3),
            samples=len(self.timeline),
            probes_of_current=len(judged),
            failed_probes=sum(1 for r in judged if not r.good),
            inconclusive_probes=sum(1 for p in self._probers.values() for r in p.snapshot() if r.inconclusive),
            longest_gap_ms=round(max(gaps, default=0.0) * 1000, 1),
            gaps_over_150ms=sum(1 for g in gaps if g > 0.150),
            longest_sampling_pause_ms=round(max(pauses, default=0.0) * 1000, 1),
            skipped_ticks=sum(prober.skipped for prober in self._probers.values()),
            current_tokens=current,
        )
