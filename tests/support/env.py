"""One integration test's world (namespace, simulator, operator) and helpers to look at the cluster through it."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from snyk_broker_operator.simulator import SimulatorThread
from support import snyk as world
from support.cluster import Cluster
from support.operator import OperatorProcess
from support.waiting import wait_for

GROUP, VERSION = "snykbroker.dev", "v1alpha1"


@dataclasses.dataclass
class Env:
    """One test's world: its namespace, the simulator, the operator, and helpers to look at the cluster."""

    namespace: str
    api: client.ApiClient
    cluster: Cluster
    simulator: SimulatorThread
    sim: world.SimulatorAdmin
    operator: OperatorProcess
    # Tokens the test itself supplied (existingSecretRef): they must not leak either.
    extra_secrets: set[str] = dataclasses.field(default_factory=set)

    @property
    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def event_reasons(self, *, warning: bool = False) -> set[str]:
        return {
            str(e.reason)
            for e in self.core.list_namespaced_event(self.namespace).items
            if not warning or e.type == "Warning"
        }

    def wait_events(self, *reasons: str, warning: bool = False, timeout: float = 15) -> set[str]:
        """Events are recorded at the end of a pass: wait for them rather than read once."""
        return wait_for(
            lambda: (
                self.event_reasons(warning=warning) if set(reasons) <= self.event_reasons(warning=warning) else None
            ),
            timeout=timeout,
            what=f"events {sorted(reasons)}",
        )

    def reconciles(self) -> float:
        """How many BrokerToken reconcile passes the operator has finished so far (a resync is one more), as its
        metrics publish them."""
        return self.operator.reconcile_passes("BrokerToken")

    def wait_reconciles(self, more_than: float, timeout: float = 20) -> None:
        wait_for(lambda: self.reconciles() > more_than, timeout=timeout, what="another reconcile pass")

    def create_secret(self, name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        meta = client.V1ObjectMeta(name=name, labels=labels)
        self.core.create_namespaced_secret(self.namespace, client.V1Secret(metadata=meta, data=encoded))

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        created = self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)
        return cast(dict[str, Any], created)

    def broker_token(self, name: str) -> dict[str, Any]:
        found = self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "brokertokens", name)
        return cast(dict[str, Any], found)

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        status = self.broker_token(name).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)

    def wait_condition(self, name: str, kind: str, status: str = "True", timeout: float = 30) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.condition(name, kind)
            return found if found and found["status"] == status else None

        try:
            return wait_for(probe, timeout=timeout, what=f"{kind}={status} on BrokerToken {name}")
        except AssertionError:
            print(self.operator.log_text()[-4000:])
            raise

    def secret(self, name: str) -> client.V1Secret | None:
        try:
            return self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def token_in(self, name: str, key: str = "BROKER_TOKEN") -> str | None:
        secret = self.secret(name)
        if secret is None or not secret.data or key not in secret.data:
            return None
        return base64.b64decode(secret.data[key]).decode()


def _items(env: Env, plural: str) -> list[dict[str, Any]]:
    listed = cast(dict[str, Any], env.objects.list_namespaced_custom_object(GROUP, VERSION, env.namespace, plural))
    return list(listed["items"])


def broker_token(name: str, **spec: Any) -> dict[str, Any]:
    """A BrokerToken on the test's SnykConnection, provisioned by type github in the platform org by default."""
    full_spec: dict[str, Any] = {
        "connectionRef": {"name": "snyk"},
        "orgId": world.ORG_PLATFORM,
        "integration": {"type": "github"},
        "source": {"provision": {}},
    }
    full_spec.update(spec)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "BrokerToken", "metadata": {"name": name}, "spec": full_spec}


def _texts_that_must_not_hold_secrets(env: Env) -> dict[str, str]:
    """Everything a token must never reach: the operator's DEBUG log, events, statuses, annotations of all objects."""
    texts = {"operator log": env.operator.log_text(), "operator metrics": env.operator.metrics_text()}
    core, apps = env.core, client.AppsV1Api(env.api)
    events = core.list_namespaced_event(env.namespace).items
    texts["events"] = "\n".join(f"{e.reason} {e.message}" for e in events)
    for plural in ("brokertokens", "snykconnections"):
        for item in _items(env, plural):
            texts[f"{plural}/{item['metadata']['name']}"] = repr(item.get("status")) + repr(item["metadata"])
    listed: list[Any] = [*core.list_namespaced_secret(env.namespace).items]
    listed += [*core.list_namespaced_config_map(env.namespace).items]
    listed += [*apps.list_namespaced_deployment(env.namespace).items, *core.list_namespaced_pod(env.namespace).items]
    for obj in listed:
        meta = obj.metadata
        texts[f"{type(obj).__name__}/{meta.name} metadata"] = repr(meta.annotations) + repr(meta.labels)
    return texts


def _secrets(env: Env) -> set[str]:
    secrets = {token for token in env.sim.issued_tokens()} | {world.GROUP_KEY, world.TEAM_A_ONLY_KEY}
    return secrets | set(getattr(env, "extra_secrets", ()))


def assert_no_secret_leaked(env: Env) -> None:
    secrets = _secrets(env)
    for where, text in _texts_that_must_not_hold_secrets(env).items():
        for secret in secrets:
            assert secret not in text, f"a token or API key leaked into {where}"
    assert_no_secret_in_metrics(env, [env.operator.metrics_text()])


def assert_no_secret_in_metrics(env: Env, pages: Iterable[str]) -> None:
    """Metrics pages hold not even a fingerprint (allowed in status, events and the log): their labels name a
    BrokerToken by namespace and name at most. Checks every token the simulator issued and every key, as the
    secret itself, its sha256 and the fingerprint shown elsewhere (`sha256:` and 12 hex digits)."""
    forms = set()
    for secret in _secrets(env):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        forms |= {secret, digest, digest[:12]}
    for number, page in enumerate(pages):
        for form in forms:
            assert form not in page, f"a token, key or fingerprint of one is in metrics page {number}"


def release_objects(env: Env) -> None:
    """Delete the test's BrokerTokens and connections while the operator still runs, so that it removes its
    finalizers; any left after a grace period (the operator may be dead in a crash test) lose them by force."""
    plurals = ("brokertokens", "snykconnections")
    for plural in plurals:
        env.objects.delete_collection_namespaced_custom_object(GROUP, VERSION, env.namespace, plural)

    def remaining() -> list[tuple[str, str]]:
        return [(plural, item["metadata"]["name"]) for plural in plurals for item in _items(env, plural)]

    try:
        wait_for(lambda: not remaining(), timeout=15 if env.operator.running else 0.1, what="finalizers released")
    except AssertionError:
        for plural, name in remaining():
            body = {"metadata": {"finalizers": None}}
            env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, plural, name, body)
