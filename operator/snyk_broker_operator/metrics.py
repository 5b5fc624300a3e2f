"""The Prometheus metrics the operator publishes, in a registry of its own, built by `runner` and fed by `handlers`.

Served over HTTP (`snyk-broker-operator run --metrics-address HOST:PORT`) in the Prometheus text format. Labels
carry a kind and an outcome at most: never a token, a key, or anything derived from one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "snyk_broker_operator"


@dataclasses.dataclass
class Metrics:
    registry: CollectorRegistry = dataclasses.field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.reconcile_passes = Counter(
            f"{PREFIX}_reconcile_passes_total",
            "Reconcile passes, by kind of object and how the pass ended.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "How long one reconcile pass took, by kind of object.",
            ["kind"],
            registry=self.registry,
        )
        # 1 while this replica holds the leader-election Lease (or runs without leader election), 0 on standby.
        self.leader = Gauge(
            f"{PREFIX}_leader",
            "Whether this replica is the one reconciling (1) or on standby (0).",
            registry=self.registry,
        )

    @contextmanager
    def timed_pass(self, kind: str) -> Iterator[None]:
        with self.reconcile_duration.labels(kind=kind).time():
            yield

    def passed(self, kind: str, outcome: str) -> None:
        self.reconcile_passes.labels(kind=kind, outcome=outcome).inc()


def serve(metrics: Metrics, address: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve `metrics` at http://ADDRESS/metrics (`host:port`; port 0 picks a free one) in a daemon thread."""
    host, _, port = address.rpartition(":")
    return start_http_server(int(port), addr=host or "0.0.0.0", registry=metrics.registry)
