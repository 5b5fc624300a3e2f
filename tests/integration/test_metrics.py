"""The operator's Prometheus metrics over HTTP, scraped during a real lifecycle on the local cluster with the Snyk
simulator: a token provisioned and rolled out, rotated, then provisioned again through 5xx and 429 faults, and
deleted. Every page scraped is kept and proven to hold no token, no key and no fingerprint of one.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.env import Env, assert_no_secret_in_metrics, broker_token
from support.rotation import provisioned, request_rotation, wait_ready_and_current, wait_rotation_complete
from support.waiting import wait_for

PREFIX = "snyk_broker_operator_"
STATES = ("Ready", "Stalled", "Rotating", "Progressing")
WAIT_SECONDS = 20


class Scraper:
    """Scrapes the operator's /metrics page and keeps every page it read (for the leak check)."""

    def __init__(self, env: Env) -> None:
        self._env = env
        self.pages: list[str] = []

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        page = self._env.operator.metrics_text()
        self.pages.append(page)
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(page)
            for sample in family.samples
        }

    def value(self, series: str, **labels: str) -> float | None:
        return self.scrape().get((PREFIX + series, frozenset(labels.items())))

    def total(self, series: str, **labels: str) -> float:
        """The sum over every sample of `series` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(
            value for (name, found), value in self.scrape().items() if name == PREFIX + series and wanted <= found
        )

    def wait(self, series: str, expected: float, **labels: str) -> None:
        wait_for(
            lambda: self.value(series, **labels) == expected,
            timeout=WAIT_SECONDS,
            interval=0.1,
            what=f"{series}{labels} == {expected}",
        )


@pytest.mark.slow
def test_metrics_follow_a_token_through_provision_rotation_snyk_faults_and_deletion(env: Env) -> None:
    metrics = Scraper(env)
    namespace = env.namespace
    token = {"namespace": namespace, "name": "broker"}

    # Provisioned, with one consumer rolled onto it and a rotation schedule.
    provisioned(env, consumers={"broker-a"}, replicas=1, rotation={"every": "2160h"})
    metrics.wait("tokens", 1.0, state="Ready")
    assert {state: metrics.value("tokens", state=state) for state in STATES} == {
        "Ready": 1.0,
        "Stalled": 0.0,
        "Rotating": 0.0,
        "Progressing": 0.0,
    }
    assert (metrics.value("snyk_requests_total", call="enable_broker", status_class="2xx") or 0) >= 1
    assert metrics.total("snyk_request_duration_seconds_count", call="enable_broker") >= 1
    assert metrics.value("token_stalled", **token) == 0.0
    metrics.wait("consumers_rolled", 1.0, **token)
    assert metrics.value("consumers_pending", **token) == 0.0
    next_rotation = metrics.value("token_next_rotation_seconds", **token)
    assert next_rotation is not None and 2160 * 3600 - 60 < next_rotation <= 2160 * 3600 * 1.1
    first_age = metrics.value("token_age_seconds", **token)
    time.sleep(1.2)
    second_age = metrics.value("token_age_seconds", **token)
    assert first_age is not None and second_age is not None and second_age >= first_age + 1.0, "the age must grow"
    assert metrics.value("rotations_started_total") == 0.0

    # A Bridge rotation: started, a phase series while it runs, completed, and the phase series gone again.
    revision = int(env.broker_token("broker")["status"]["revision"])
    # The bridges become available within a second on kwok, which a scrape can miss: a slow switch call keeps the
    # rotation in its Bridging phase (as the last pass recorded it) for a few seconds.
    env.sim.fault(endpoint="switch_token", latencySeconds=3)
    request_rotation(env, "broker", "metrics-1")
    phases_seen: dict[str, float] = {}
    rotating_seen = False

    def rotation_done() -> bool:
        nonlocal rotating_seen
        scraped = metrics.scrape()
        for (name, labels), seconds in scraped.items():
            if name == PREFIX + "rotation_phase_seconds" and ("name", "broker") in labels:
                phase = dict(labels)["phase"]
                phases_seen[phase] = max(seconds, phases_seen.get(phase, 0.0))
        rotating_seen |= scraped.get((PREFIX + "tokens", frozenset({("state", "Rotating")}))) == 1.0
        return scraped.get((PREFIX + "rotations_completed_total", frozenset())) == 1.0

    wait_for(rotation_done, timeout=45, interval=0.1, what="rotations_completed_total to reach 1")
    wait_rotation_complete(env, "broker", revision=revision + 1, consumers={"broker-a"}, timeout=15)
    assert metrics.value("rotations_started_total") == 1.0
    assert metrics.value("rotations_failed_total") == 0.0
    assert phases_seen.get("Bridging", 0.0) >= 2.0, f"the Bridging phase series did not grow (saw {phases_seen})"
    assert rotating_seen, "the token was never counted as Rotating"
    wait_for(
        lambda: (
            metrics.total("rotation_phase_seconds", **token) == 0.0
            and not any(name == PREFIX + "rotation_phase_seconds" for name, _ in metrics.scrape())
        ),
        timeout=10,
        what="the phase series to disappear",
    )
    metrics.wait("tokens", 1.0, state="Ready")
    assert metrics.value("consumers_rolled", **token) == 1.0

    # Snyk answers 503 to everything: a new token cannot be obtained. The client retries its idempotent calls, the
    # pass fails, and the token is retried with backoff: Progressing (Reconciling, SnykUnavailable), not Stalled.
    errors_before = metrics.total("snyk_requests_total", status_class="5xx")
    retries_before = metrics.total("snyk_retries_total")
    env.sim.clear_faults()
    env.sim.fault(errorRate=1.0, errorStatus=503)
    env.create("brokertokens", broker_token("second", secret={"name": "second"}))
    second = {"namespace": namespace, "name": "second"}

    def reconciling_reason() -> str | None:
        found = env.condition("second", "Reconciling")
        return str(found["reason"]) if found and found["status"] == "True" else None

    wait_for(lambda: reconciling_reason() == "SnykUnavailable", timeout=30, what="Reconciling for SnykUnavailable")
    wait_for(
        lambda: metrics.total("snyk_requests_total", status_class="5xx") >= errors_before + 2,
        timeout=20,
        what="5xx answers counted",
    )
    assert metrics.total("snyk_retries_total") > retries_before
    metrics.wait("token_stalled", 0.0, **second)
    metrics.wait("tokens", 1.0, state="Progressing")

    # Then a burst of 429s with Retry-After: 1: counted as rate limited (and 4xx), waited out and retried.
    env.sim.clear_faults()
    env.sim.fault(rateLimitBurst=2, retryAfterSeconds=1)
    wait_ready_and_current(env, "second", consumers=set(), timeout=30)
    assert metrics.total("snyk_rate_limited_total") >= 2
    assert metrics.total("snyk_requests_total", status_class="4xx") >= 2
    assert metrics.total("snyk_retries_total") >= retries_before + 3
    metrics.wait("tokens", 2.0, state="Ready")
    assert metrics.value("token_age_seconds", **second) is not None
    assert metrics.value("token_next_rotation_seconds", **second) is None, "no schedule, no next rotation"

    # An integration type the org does not have: the user must act, so Stalled (what the 15-minute alert watches).
    env.create("brokertokens", broker_token("missing", integration={"type": "jira"}, secret={"name": "missing"}))
    missing = {"namespace": namespace, "name": "missing"}
    metrics.wait("token_stalled", 1.0, **missing)
    assert metrics.value("tokens", state="Stalled") == 1.0
    assert metrics.value("token_age_seconds", **missing) is None, "no token, no age"

    # Deleted: their series go, and they are no longer counted.
    for name in ("second", "missing"):
        env.objects.delete_namespaced_custom_object("snykbroker.dev", "v1alpha1", namespace, "brokertokens", name)
    wait_for(
        lambda: not any({("name", "second"), ("name", "missing")} & labels for _, labels in metrics.scrape()),
        timeout=15,
        what="the deleted BrokerTokens' series to disappear",
    )
    assert {state: metrics.value("tokens", state=state) for state in STATES} == {
        "Ready": 1.0,
        "Stalled": 0.0,
        "Rotating": 0.0,
        "Progressing": 0.0,
    }

    assert len(metrics.pages) > 20
    assert_no_secret_in_metrics(env, metrics.pages)
