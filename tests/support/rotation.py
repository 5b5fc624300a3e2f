"""Helpers for rotation tests: triggering and awaiting a rotation, consumer workloads, and a token-availability monitor.

The monitor answers the one question a gap-free rotation must satisfy at every instant: is at least one ready broker
client running the token that Snyk (the simulator) currently routes to? A pod's token is known from its
`snykbroker.dev/token-fingerprint` annotation, which the operator sets on consumer and bridge pod templates.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from typing import Any

import httpx
from kubernetes import client

from support.env import GROUP, VERSION, Env, broker_token
from support.waiting import wait_for
from support.workloads import apps, broker_client, create_deployment, fingerprint

FINGERPRINT = "snykbroker.dev/token-fingerprint"
ROTATE_REQUESTED_AT = "snykbroker.dev/rotate-requested-at"
BRIDGE_SUFFIX = "-snykbroker-bridge"
BRIDGE_OF_LABEL = "snykbroker.dev/bridge-of"


def create_consumers(env: Env, names: list[str], *, replicas: int = 2, **options: Any) -> None:
    for name in names:
        create_deployment(env, broker_client(name, replicas=replicas, **options))


def rotation_secret(name: str) -> str:
    return f"{name}-snykbroker-rotation"


def custody_secret(name: str) -> str:
    return f"{name}-snykbroker-custody"


def provisioned(
    env: Env, name: str = "broker", *, consumers: set[str] | None = None, replicas: int = 2, **spec: Any
) -> dict[str, Any]:
    """Consumer Deployments, then a BrokerToken provisioned by type github into Secret "broker"; its Ready status."""
    create_consumers(env, sorted(consumers or ()), replicas=replicas, node_selector=spec.pop("node_selector", None))
    env.create("brokertokens", broker_token(name, secret={"name": "broker"}, **spec))
    return wait_ready_and_current(env, name, consumers=consumers or set())


def status_of(env: Env, name: str) -> dict[str, Any]:
    return dict(env.broker_token(name).get("status") or {})


def consumers_current(env: Env, name: str, *, expected: set[str], fingerprint_: str) -> bool:
    found = {c["name"]: c for c in status_of(env, name).get("consumers") or []}
    return set(found) == expected and all(
        c["state"] == "Current" and c.get("fingerprint") == fingerprint_ for c in found.values()
    )


def wait_ready_and_current(env: Env, name: str, *, consumers: set[str], timeout: float = 60) -> dict[str, Any]:
    """Wait until the BrokerToken is Ready with every expected consumer Current on its token; return its status."""

    def probe() -> dict[str, Any] | None:
        status = status_of(env, name)
        ready = env.condition(name, "Ready")
        if not ready or ready["status"] != "True" or not status.get("tokenFingerprint"):
            return None
        if consumers and not consumers_current(env, name, expected=consumers, fingerprint_=status["tokenFingerprint"]):
            return None
        return status

    try:
        return wait_for(
            probe, timeout=timeout, what=f"BrokerToken {name} Ready with consumers {sorted(consumers)} Current"
        )
    except AssertionError:
        print(f"status: {status_of(env, name)!r}")
        print(env.operator.log_text()[-6000:])
        raise


def request_rotation(env: Env, name: str, value: str | None) -> None:
    """Set (or, with None, remove) the rotate-requested-at annotation."""
    body = {"metadata": {"annotations": {ROTATE_REQUESTED_AT: value}}}
    env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", name, body)


def rotation_idle(status: dict[str, Any]) -> bool:
    """No rotation in progress: the status has no rotation field then (there is no idle phase)."""
    return not status.get("rotation")


def wait_rotation_complete(
    env: Env, name: str, *, revision: int, consumers: set[str] | None = None, timeout: float = 60
) -> dict[str, Any]:
    """Wait until the rotation to `revision` is complete: no rotation in progress, Ready, consumers Current on it."""

    def probe() -> dict[str, Any] | None:
        status = status_of(env, name)
        if status.get("revision") != revision or not rotation_idle(status):
            return None
        ready = env.condition(name, "Ready")
        if not ready or ready["status"] != "True":
            return None
        if consumers and not consumers_current(env, name, expected=consumers, fingerprint_=status["tokenFingerprint"]):
            return None
        return status

    try:
        return wait_for(probe, timeout=timeout, what=f"the rotation of {name} to revision {revision} to complete")
    except AssertionError:
        print(f"status: {status_of(env, name)!r}")
        print(env.operator.log_text()[-6000:])
        raise


def bridge_deployments(env: Env) -> list[str]:
    listed = apps(env).list_namespaced_deployment(env.namespace).items
    return sorted(str(d.metadata.name) for d in listed if str(d.metadata.name).endswith(BRIDGE_SUFFIX))


def template_fingerprint(env: Env, deployment: str) -> str | None:
    found = apps(env).read_namespaced_deployment(deployment, env.namespace)
    return (found.spec.template.metadata.annotations or {}).get(FINGERPRINT)


def calls_to(env: Env, endpoint: str) -> list[dict[str, Any]]:
    return env.sim.calls(endpoint)


def seed_foreign_provisional(env: Env, integration_id: str) -> str:
    """Issue a provisional token on the integration as if another tool had provisioned it (POST /_sim/provisional)."""
    with httpx.Client(base_url=env.simulator.admin_url, timeout=10) as admin:
        response = admin.post("/provisional", json={"integrationId": integration_id})
        response.raise_for_status()
        return str(response.json()["provisionalBrokerToken"])


def events(env: Env, reason: str | None = None) -> list[client.CoreV1Event]:
    """The namespace's events, oldest first by their etcd revision (finer than the timestamps' seconds)."""
    listed = env.core.list_namespaced_event(env.namespace).items
    found = [e for e in listed if reason is None or e.reason == reason]
    return sorted(found, key=lambda e: int(e.metadata.resource_version or 0))


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclasses.dataclass(frozen=True)
class Sample:
    """One look at the world: when, the routed token's fingerprint, and (pod, fingerprint) of every ready pod."""

    at: datetime.datetime
    routed: str | None
    ready: tuple[tuple[str, str], ...]

    @property
    def served(self) -> bool:
        return self.routed is not None and any(fp == self.routed for _, fp in self.ready)


class TokenAvailabilityMonitor:
    """A background thread that checks, every `interval`, that a ready pod runs the token Snyk routes to.

    Pods counted: Ready=True, not terminating, with a token-fingerprint annotation (consumer and bridge pods).
    The pods are listed before the simulator is read, so a switch between the two reads can only be seen with
    the pods of just before it, which a gap-free rotation still covers (bridges run before the switch).
    """

    def __init__(self, env: Env, *, integration_id: str, interval: float = 0.1) -> None:
        self._core = client.CoreV1Api(env.api)
        self._namespace = env.namespace
        self._admin_url = env.simulator.admin_url
        self._integration_id = integration_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="token-availability-monitor", daemon=True)
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self.errors: list[str] = []

    def __enter__(self) -> TokenAvailabilityMonitor:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the token-availability monitor did not stop"

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not s.served]

    def routed_fingerprints(self) -> list[str | None]:
        """The distinct routed fingerprints, in the order they were seen."""
        seen: list[str | None] = []
        for sample in self.samples:
            if not seen or seen[-1] != sample.routed:
                seen.append(sample.routed)
        return seen

    def _run(self) -> None:
        with httpx.Client(base_url=self._admin_url, timeout=5) as admin:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    sample = self._sample(admin)
                except Exception as error:  # a hiccup of one read is not a gap; it is reported, not counted
                    self.errors.append(f"{type(error).__name__}: {error}")
                else:
                    with self._lock:
                        self._samples.append(sample)
                self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def _sample(self, admin: httpx.Client) -> Sample:
        pods = self._core.list_namespaced_pod(self._namespace).items
        ready = tuple(sorted((str(p.metadata.name), fp) for p in pods if (fp := _serving_fingerprint(p))))
        at = datetime.datetime.now(datetime.UTC)
        response = admin.get("/state")
        response.raise_for_status()
        integration = next(i for i in response.json()["integrations"] if i["id"] == self._integration_id)
        token = integration.get("token")
        return Sample(at=at, routed=fingerprint(token) if token else None, ready=ready)


def _serving_fingerprint(pod: client.V1Pod) -> str | None:
    """The token fingerprint of a pod that can serve (Ready, not terminating), else None."""
    if pod.metadata.deletion_timestamp is not None:
        return None
    conditions = (pod.status.conditions if pod.status else None) or []
    if not any(c.type == "Ready" and c.status == "True" for c in conditions):
        return None
    value = (pod.metadata.annotations or {}).get(FINGERPRINT)
    return str(value) if value else None
