"""The Prometheus metrics the operator publishes, in a registry of its own: built by `runner`, fed by `handlers`
(reconcile passes, and each BrokerToken's status after its pass, see `token_metrics`) and by the Snyk client through
its observer port (`SnykTraffic`, which `runner` hands to the engine's connections).

Served over HTTP (`snyk-broker-operator run --metrics-address HOST:PORT`) in the Prometheus text format. Labels
carry a kind, an outcome, a Snyk call's name and status class, a token state or rotation phase, and a BrokerToken's
namespace and name at most: never a token, a key, a fingerprint or anything derived from one. docs/operations.md
("Metrics") lists every series.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from snyk_broker_operator.token_metrics import PREFIX, TokenMetrics

__all__ = ["PREFIX", "Metrics", "SnykTraffic", "serve", "status_class"]

HTTP_TOO_MANY_REQUESTS = 429


def _utc_now() -> datetime:
    return datetime.now(UTC)


def status_class(status_code: int | None) -> str:
    """`2xx` ... `5xx` for an answer, `error` for none (connect error, reset, timeout)."""
    if status_code is None or not 200 <= status_code <= 599:
        return "error"
    return f"{status_code // 100}xx"


class SnykTraffic:
    """The Snyk client's traffic as metrics: an observer (`adapters.snyk.SnykObserver`) of every client."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            f"{PREFIX}_snyk_requests_total",
            "Snyk API HTTP requests, by call and answer (2xx, 3xx, 4xx, 5xx; error: no answer).",
            ["call", "status_class"],
            registry=registry,
        )
        self.rate_limited = Counter(
            f"{PREFIX}_snyk_rate_limited_total",
            "Snyk API answers 429 (rate limited), by call; they also count in requests_total as 4xx.",
            ["call"],
            registry=registry,
        )
        self.request_duration = Histogram(
            f"{PREFIX}_snyk_request_duration_seconds",
            "How long one Snyk API HTTP request took, from sending it to its answer (or to no answer).",
            ["call"],
            registry=registry,
        )
        self.retries = Counter(
            f"{PREFIX}_snyk_retries_total",
            "Snyk API requests the client sent again after a 429, a 5xx or no answer, by call.",
            ["call"],
            registry=registry,
        )
        # No label: the client knows its key only, and a label derived from a key is exactly what must not exist.
        self.budget_wait = Counter(
            f"{PREFIX}_snyk_rate_limiter_wait_seconds_total",
            "Seconds Snyk API requests waited on the client-side request budget (rate, requests in flight, and "
            "the pause of a key after a 429) before they could be sent.",
            registry=registry,
        )

    def request_finished(self, *, call: str, status_code: int | None, seconds: float) -> None:
        self.requests.labels(call=call, status_class=status_class(status_code)).inc()
        if status_code == HTTP_TOO_MANY_REQUESTS:
            self.rate_limited.labels(call=call).inc()
        self.request_duration.labels(call=call).observe(seconds)

    def retrying(self, *, call: str) -> None:
        self.retries.labels(call=call).inc()

    def waited_for_budget(self, *, seconds: float) -> None:
        self.budget_wait.inc(max(0.0, seconds))


@dataclasses.dataclass
class Metrics:
    registry: CollectorRegistry = dataclasses.field(default_factory=CollectorRegistry)
    # The wall clock the per-token ages are computed from, at scrape time (injected by tests).
    clock: Callable[[], datetime] = _utc_now

    def __post_init__(self) -> None:
        self.reconcile_passes = Counter(
            f"{PREFIX}_reconcile_passes_total",
            "Reconcile passes, by kind of object and how the pass ended.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "How long one reconcile pass took, by kind of object and how the pass ended.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        # 1 while this replica holds the leader-election Lease (or runs without leader election), 0 on standby.
        self.leader = Gauge(
            f"{PREFIX}_leader",
            "Whether this replica is the one reconciling (1) or on standby (0).",
            registry=self.registry,
        )
        self.snyk = SnykTraffic(self.registry)
        self.tokens = TokenMetrics(self.registry, self.clock)

    def passed(self, kind: str, outcome: str, seconds: float) -> None:
        """A pass over an object of `kind` ended with `outcome` after `seconds`; counted once its writes are done
        (tests synchronise on this counter)."""
        self.reconcile_duration.labels(kind=kind, outcome=outcome).observe(seconds)
        self.reconcile_passes.labels(kind=kind, outcome=outcome).inc()


def serve(metrics: Metrics, address: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve `metrics` at http://ADDRESS/metrics (`host:port`; port 0 picks a free one) in a daemon thread."""
    host, _, port = address.rpartition(":")
    return start_http_server(int(port), addr=host or "0.0.0.0", registry=metrics.registry)
