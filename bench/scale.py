"""Benchmark: the operator at 100, 300 and 1,000 BrokerTokens on the real local cluster: cold start at Snyk's rate
limit, throughput and profile without it, quiet when converged, latency, memory among unrelated objects, restart.

The world: the local control plane (`hack/local-cluster`, started and stopped here only when it is not running),
10,000 unrelated Secrets and 1,000 unrelated Deployments in ten other namespaces (there from the start to the end),
the Snyk simulator as a process of its own, and the operator as a process (`snyk-broker-operator run
--all-namespaces` at the production log level, with leader election, as the chart runs it). Its CPU time and memory
come from /proc, Snyk's calls from the simulator's call log, writes from the objects' resourceVersions and events.

For each size N (100, 300, 1,000), in a fresh namespace, with a fresh simulator and operator process:

1. cold start with the simulator enforcing Snyk's limit (2,000 v1 requests a minute per API key) and the
   SnykConnection's requestBudget at 2,000 a minute: the time from the first create until all N are Ready, against
   the floor (Snyk calls made / budget), and the 429 answers; every token's Ready time for the plot;
3. converged: for a window of resyncs (600 s at 1,000 tokens; 300 s, one whole resync period, below), the Snyk
   calls, the writes (resourceVersions of the BrokerTokens, Secrets and Deployments, and events) and the operator's
   CPU time from /proc;
5. memory: the operator's RSS at the end of that window, and its peak (VmHWM);
6. restart: SIGTERM, a new process, the time until it has finished a pass over every BrokerToken (its per-token
   metric series), then the Snyk calls, writes and rollouts (Deployment generations) that the restart caused.

Every tenth BrokerToken has a consumer Deployment (one replica, a kwok pod), so that rolls and rollouts are real.
The unrelated Deployments have no replicas (the two fake nodes hold 220 pods).

Then at 1,000 without rate pressure (ten SnykConnections with ten API keys, the simulator's limit out of reach):

2. cold start throughput, with the operator profiled by py-spy (attached, on-CPU samples), the samples sorted into
   where the time goes;
4. latency, 100 samples each: a new BrokerToken applied until its Secret exists; a given token changed until all
   100 consumer Deployments of one BrokerToken carry the new token's fingerprint.

Writes bench/results/scale.json and the plots scale-ready-over-time.svg and scale-rss.svg next to it.
Run: .venv/bin/python bench/scale.py [--sizes 100,300,1000] [--quiet-seconds 600] [--keep-logs DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import scale_world as w
import svgplot
from kubernetes import client, config, watch
from pydantic import SecretStr

import snyk_broker_operator
from snyk_broker_operator.models import fingerprint_of

RESULTS = w.REPO / "bench" / "results"
NOISE_NAMESPACES = 10
NOISE_SECRETS = 10_000
NOISE_DEPLOYMENTS = 1_000
CREATE_WORKERS = 8
CONSUMER_EVERY = 10  # every tenth BrokerToken has a consumer Deployment
UNLIMITED_KEYS = 10
LATENCY_SAMPLES = 100
FANOUT_CONSUMERS = 100
SETTLE_SECONDS = 5.0
# The operator's resync period (reconcile.schedule.RESYNC_SECONDS): below the largest size the quiet window is one.
RESYNC_SECONDS = 300.0
TOKEN_LABEL = f"{w.GROUP}/broker-token"
FINGERPRINT_ANNOTATION = f"{w.GROUP}/token-fingerprint"
USER_ME = "user_me"


def fingerprint(token: str) -> str:
    """The token fingerprint the operator writes on pod templates."""
    return fingerprint_of(SecretStr(token))


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.4999)))
    return ordered[rank - 1]


class Watcher:
    """A watch on one kind in one namespace, in a thread: `on_event(type, object, monotonic time)` per event."""

    def __init__(
        self, list_call: Callable[..., Any], *args: Any, on_event: Callable[[str, Any, float], None], **kw: Any
    ):
        self._list_call, self._args, self._kwargs = list_call, args, kw
        self._on_event = on_event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    def __enter__(self) -> Watcher:
        self._thread.start()
        self._started.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            stream = watch.Watch()
            kwargs = {**self._kwargs, "timeout_seconds": 2, "allow_watch_bookmarks": True}
            if version is None:
                listed = self._list_call(*self._args, **self._kwargs)
                items = listed["items"] if isinstance(listed, dict) else listed.items
                now = time.monotonic()
                for item in items:
                    self._on_event("ADDED", item, now)
                version = (
                    listed["metadata"]["resourceVersion"]
                    if isinstance(listed, dict)
                    else listed.metadata.resource_version
                )
                self._started.set()
            try:
                for event in stream.stream(self._list_call, *self._args, resource_version=version, **kwargs):
                    now = time.monotonic()
                    obj = event["object"]
                    meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
                    version = meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
                    if event["type"] != "BOOKMARK":
                        self._on_event(event["type"], obj, now)
                    if self._stop.is_set():
                        break
            except client.ApiException as error:
                if error.status == 410:
                    version = None  # too old: list again
                else:
                    raise


@dataclass
class Snapshot:
    """What a quiet operator must leave unchanged: object versions, Deployment generations, events, Snyk calls."""

    versions: dict[str, str]
    generations: dict[str, int]
    events: int
    snyk_calls: int


@dataclass
class Bench:
    cluster: w.LocalCluster
    api: client.ApiClient
    log_dir: Path
    objects: client.CustomObjectsApi = field(init=False)
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.objects = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    # --- objects -------------------------------------------------------------------------------------------

    def create_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def delete_namespace(self, namespace: str, *, wait: bool = True) -> None:
        with contextlib.suppress(client.ApiException):
            self.core.delete_namespace(namespace, propagation_policy="Background")
        if not wait:
            return

        def gone() -> bool:
            try:
                self.core.read_namespace(namespace)
            except client.ApiException as error:
                return error.status == 404
            return False

        with contextlib.suppress(TimeoutError):
            w.wait_for(gone, timeout=300, what=f"namespace {namespace} deleted", interval=1.0)

    def parallel(self, function: Callable[[int], Any], count: int) -> None:
        with ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool:
            list(pool.map(function, range(count)))

    def deployment(self, namespace: str, name: str, *, secret: str | None, replicas: int) -> None:
        env = []
        if secret is not None:
            ref = client.V1SecretKeySelector(name=secret, key="BROKER_TOKEN", optional=True)
            env = [client.V1EnvVar(name="BROKER_TOKEN", value_from=client.V1EnvVarSource(secret_key_ref=ref))]
        labels = {"app": name}
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=replicas,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="main", image="registry.invalid/app:1", env=env)],
                        node_selector={"type": "kwok"},
                    ),
                ),
            ),
        )
        self.apps.create_namespaced_deployment(namespace, body)

    def create_noise(self) -> list[str]:
        """10,000 Secrets and 1,000 Deployments no BrokerToken has anything to do with. The Deployments have no
        replicas: the two fake nodes hold 220 pods, and it is their objects and watch events that cost the operator."""
        namespaces = [self.create_namespace("bench-noise") for _ in range(NOISE_NAMESPACES)]
        secrets_each, deployments_each = NOISE_SECRETS // NOISE_NAMESPACES, NOISE_DEPLOYMENTS // NOISE_NAMESPACES

        def one_secret(i: int) -> None:
            namespace = namespaces[i % NOISE_NAMESPACES]
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"unrelated-{i}", labels={"app": "unrelated"}),
                string_data={"password": secrets.token_hex(16), "config.json": '{"setting": true}' * 8},
            )
            self.core.create_namespaced_secret(namespace, body)

        def one_deployment(i: int) -> None:
            self.deployment(namespaces[i % NOISE_NAMESPACES], f"unrelated-{i}", secret=None, replicas=0)

        self.parallel(one_secret, secrets_each * NOISE_NAMESPACES)
        self.parallel(one_deployment, deployments_each * NOISE_NAMESPACES)
        return namespaces

    def api_key_secret(self, namespace: str, name: str, key: str) -> None:
        meta = client.V1ObjectMeta(name=name)
        self.core.create_namespaced_secret(namespace, client.V1Secret(metadata=meta, string_data={"apiToken": key}))

    def connection(self, namespace: str, name: str, *, sim: w.SimulatorProcess, key: str) -> None:
        self.api_key_secret(namespace, f"{name}-api-token", key)
        body = {
            "apiVersion": f"{w.GROUP}/{w.VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": name},
            "spec": {
                "apiUrl": sim.root_url,
                "apiTokenSecretRef": {"name": f"{name}-api-token"},
                # Snyk's documented limit for a key; the operator's own default (1,200) leaves room for other users.
                "requestBudget": {"requestsPerMinute": w.SNYK_RATE_LIMIT},
            },
        }
        self.objects.create_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "snykconnections", body)

    def wait_connections_ready(self, namespace: str, count: int, operator: w.OperatorProcess) -> None:
        def all_ready() -> bool:
            if not operator.running:
                raise RuntimeError(f"the operator exited:\n{operator.log_tail()}")
            listed = self.objects.list_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "snykconnections")
            return sum(w.ready(item) for item in listed["items"]) == count

        w.wait_for(all_ready, timeout=120, what="the SnykConnections to be Ready")

    def tokens(self, namespace: str) -> list[dict[str, Any]]:
        listed = self.objects.list_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "brokertokens")
        return cast(list[dict[str, Any]], listed["items"])

    def snapshot(self, namespace: str, sim: w.SimulatorProcess) -> Snapshot:
        versions = {
            f"BrokerToken/{t['metadata']['name']}": t["metadata"]["resourceVersion"] for t in self.tokens(namespace)
        }
        for secret in self.core.list_namespaced_secret(namespace).items:
            versions[f"Secret/{secret.metadata.name}"] = secret.metadata.resource_version
        generations = {}
        for deployment in self.apps.list_namespaced_deployment(namespace).items:
            versions[f"Deployment/{deployment.metadata.name}"] = deployment.metadata.resource_version
            generations[deployment.metadata.name] = deployment.metadata.generation
        events = len(self.core.list_namespaced_event(namespace).items)
        return Snapshot(versions=versions, generations=generations, events=events, snyk_calls=len(sim.calls()))

    def settle(self, namespace: str, sim: w.SimulatorProcess, timeout: float = 300) -> Snapshot:
        """A snapshot once nothing changed for SETTLE_SECONDS (rollouts finished, last status writes landed)."""
        deadline = time.monotonic() + timeout
        last = self.snapshot(namespace, sim)
        while time.monotonic() < deadline:
            time.sleep(SETTLE_SECONDS)
            current = self.snapshot(namespace, sim)
            if current == last:
                return current
            last = current
        raise TimeoutError(f"namespace {namespace} kept changing for {timeout:.0f}s")

    def delete_tokens(self, namespace: str, operator: w.OperatorProcess) -> None:
        """Delete the BrokerTokens while the operator runs (it removes their finalizers); by hand if it cannot."""
        self.objects.delete_collection_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "brokertokens")
        with contextlib.suppress(TimeoutError):
            timeout = 300 if operator.running else 1
            w.wait_for(lambda: not self.tokens(namespace), timeout=timeout, what="BrokerTokens deleted", interval=2)
        for item in self.tokens(namespace):
            body = {"metadata": {"finalizers": None}}
            name = item["metadata"]["name"]
            self.objects.patch_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "brokertokens", name, body)
        for item in self.objects.list_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "snykconnections")[
            "items"
        ]:
            name = item["metadata"]["name"]
            self.objects.delete_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "snykconnections", name)


def changes(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """What changed between two snapshots, by kind: writes, rollouts, events, Snyk calls."""
    changed = Counter(
        name.split("/", 1)[0] for name, version in after.versions.items() if before.versions.get(name) != version
    )
    removed = Counter(name.split("/", 1)[0] for name in before.versions if name not in after.versions)
    rollouts = sum(after.generations.get(name, 0) != generation for name, generation in before.generations.items())
    return {
        "objects_written": dict(changed),
        "objects_removed": dict(removed),
        "writes": sum(changed.values()) + sum(removed.values()),
        "events_recorded": after.events - before.events,
        "rollouts": rollouts,
        "snyk_calls": after.snyk_calls - before.snyk_calls,
    }


@contextlib.contextmanager
def operator_in(bench: Bench, namespace: str, name: str) -> Iterator[w.OperatorProcess]:
    args = ["--all-namespaces", "--operator-namespace", namespace, "--lease-namespace", namespace]
    operator = w.OperatorProcess(kubeconfig=bench.cluster.kubeconfig, args=args, log_dir=bench.log_dir, name=name)
    operator.start()
    try:
        yield operator
    except BaseException:
        print(f"operator log tail:\n{operator.log_tail()}", file=sys.stderr)
        raise
    finally:
        with contextlib.suppress(Exception):
            bench.delete_tokens(namespace, operator)
        operator.stop()


def cold_start(
    bench: Bench, namespace: str, tokens: int, *, connection_of: Callable[[int], str], operator: w.OperatorProcess
) -> dict[str, Any]:
    """Create `tokens` BrokerTokens as fast as the API server takes them; each one's first Ready time."""
    ready_at: dict[str, float] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def seen(_: str, obj: Any, now: float) -> None:
        if w.ready(obj):
            with lock:
                ready_at.setdefault(obj["metadata"]["name"], now - started)

    list_call = bench.objects.list_namespaced_custom_object
    cpu_before = operator.cpu_seconds()
    with Watcher(list_call, w.GROUP, w.VERSION, namespace, "brokertokens", on_event=seen):
        started = time.monotonic()
        create = bench.objects.create_namespaced_custom_object

        def one(i: int) -> None:
            create(w.GROUP, w.VERSION, namespace, "brokertokens", w.broker_token(i, connection=connection_of(i)))

        bench.parallel(one, tokens)
        created = time.monotonic() - started

        def all_ready() -> bool:
            if not operator.running:
                raise RuntimeError("the operator exited during the cold start")
            with lock:
                return len(ready_at) >= tokens

        w.wait_for(all_ready, timeout=1800, what=f"{tokens} BrokerTokens Ready", interval=0.2)
    seconds = max(ready_at.values())
    return {
        "create_seconds": round(created, 2),
        "converge_seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 2),
        "operator_cpu_seconds": round(operator.cpu_seconds() - cpu_before, 1),
        "rss_mib_at_ready": operator.rss_mib(),
        "ready_times": sorted(round(t, 2) for t in ready_at.values()),
    }


def rate_limited_size(bench: Bench, tokens: int, quiet_seconds: float) -> dict[str, Any]:
    namespace = bench.create_namespace(f"bench-scale-{tokens}")
    sim = w.SimulatorProcess(w.seed(tokens, rate_limit=w.SNYK_RATE_LIMIT), log_dir=bench.log_dir)
    try:
        for i in range(0, tokens, CONSUMER_EVERY):
            bench.deployment(namespace, f"consumer-{i}", secret=f"token-{i}", replicas=1)
        bench.connection(namespace, "snyk", sim=sim, key=w.api_key(0))
        with operator_in(bench, namespace, f"operator-{tokens}") as operator:
            bench.wait_connections_ready(namespace, 1, operator)
            calls_before = len(sim.calls())
            figure1 = cold_start(bench, namespace, tokens, connection_of=lambda _: "snyk", operator=operator)
            calls = sim.calls()[calls_before:]
            made = [c for c in calls if c["status"] != 429]
            per_second = w.SNYK_RATE_LIMIT / 60
            floor = len(made) / per_second
            # The client's bucket starts full (burst: half the budget), so the bucket's own floor is lower.
            bucket_floor = max(0.0, len(made) - w.SNYK_RATE_LIMIT / 2) / per_second
            figure1 |= {
                "snyk_calls": len(made),
                "snyk_calls_by_endpoint": dict(sorted(Counter(c["endpoint"] for c in made).items())),
                "snyk_429": sum(c["status"] == 429 for c in calls),
                "floor_seconds": round(floor, 2),
                "ratio_to_floor": round(figure1["converge_seconds"] / floor, 3),
                "bucket_floor_seconds": round(bucket_floor, 2),
            }
            before = bench.settle(namespace, sim)
            passes_before = operator.metric_sum("snyk_broker_operator_reconcile_passes_total", kind="BrokerToken")
            cpu_before, clock_before = operator.cpu_seconds(), time.monotonic()
            time.sleep(quiet_seconds)
            cpu, elapsed = operator.cpu_seconds() - cpu_before, time.monotonic() - clock_before
            passes = operator.metric_sum("snyk_broker_operator_reconcile_passes_total", kind="BrokerToken")
            quiet = changes(before, bench.snapshot(namespace, sim))
            figure3 = {
                "window_seconds": round(elapsed, 1),
                "reconcile_passes": int(passes - passes_before),
                **quiet,
                "operator_cpu_seconds": round(cpu, 2),
                "cpu_percent_of_a_core": round(100 * cpu / elapsed, 3),
            }
            figure5 = {"rss_mib": operator.rss_mib(), "peak_rss_mib": operator.peak_rss_mib()}
            figure6 = restart(bench, namespace, tokens, sim, operator)
    finally:
        sim.stop()
        bench.delete_namespace(namespace)
    return {"tokens": tokens, "cold_start": figure1, "converged": figure3, "memory": figure5, "restart": figure6}


def restart(
    bench: Bench, namespace: str, tokens: int, sim: w.SimulatorProcess, operator: w.OperatorProcess
) -> dict[str, Any]:
    before = bench.settle(namespace, sim)
    operator.stop()
    started = time.monotonic()
    operator.start()

    def all_reconciled() -> bool:
        if not operator.running:
            raise RuntimeError("the operator exited after the restart")
        return operator.tokens_reconciled(namespace) >= tokens

    w.wait_for(all_reconciled, timeout=600, what=f"a pass over each of {tokens} BrokerTokens", interval=0.2)
    seconds = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    return {"all_reconciled_seconds": round(seconds, 2), **changes(before, bench.snapshot(namespace, sim))}


def profile_categories(raw: Path) -> dict[str, float]:
    """py-spy's collapsed stacks, sorted by the innermost frame that says whose work it is, as % of samples."""
    rules = [
        ("Kubernetes API calls (client, HTTP, TLS, JSON)", ("adapters/kube/", "kubernetes/", "urllib3/", "/ssl.py")),
        ("Snyk API calls (client, limiter, HTTP)", ("adapters/snyk/", "httpx/", "httpcore/", "h11/")),
        ("logging", ("/logging/",)),
        ("Kopf (watch streams, event processing, daemons)", ("kopf/", "aiohttp/")),
        ("metrics", ("prometheus_client/", "token_metrics.py", "snyk_broker_operator/metrics.py")),
        ("models (pydantic)", ("pydantic/", "pydantic_core/", "snyk_broker_operator/models/")),
        ("reconcile and engine (the operator's own logic)", ("snyk_broker_operator/",)),
        ("event loop and threads", ("asyncio/", "selectors.py", "threading.py", "concurrent/futures/")),
    ]
    totals: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        category = "other"
        for frame in reversed(frames):
            found = next((name for name, needles in rules if any(n in frame for n in needles)), None)
            if found is not None:
                category = found
                break
        totals[category] += int(count)
    everything = sum(totals.values()) or 1
    return {name: round(100 * count / everything, 1) for name, count in totals.most_common()}


@contextlib.contextmanager
def profiled(pid: int, output: Path) -> Iterator[None]:
    """py-spy attached to `pid` (on-CPU samples of every thread) until the block ends."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        raise RuntimeError("py-spy is not installed in the virtualenv (pip install -e '.[dev]')")
    args = [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", str(output)]
    process = subprocess.Popen([*args, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def unlimited(bench: Bench, tokens: int) -> dict[str, Any]:
    namespace = bench.create_namespace(f"bench-scale-free-{tokens}")
    extra = LATENCY_SAMPLES
    sim = w.SimulatorProcess(w.seed(tokens + extra, keys=UNLIMITED_KEYS), log_dir=bench.log_dir)
    try:
        for k in range(UNLIMITED_KEYS):
            bench.connection(namespace, f"snyk-{k}", sim=sim, key=w.api_key(k))
        with operator_in(bench, namespace, "operator-unlimited") as operator:
            bench.wait_connections_ready(namespace, UNLIMITED_KEYS, operator)
            raw = bench.log_dir / "profile.txt"
            with profiled(operator.pid, raw):
                figure2 = cold_start(
                    bench, namespace, tokens, connection_of=lambda i: f"snyk-{i % UNLIMITED_KEYS}", operator=operator
                )
            figure2["profile_percent_of_samples"] = profile_categories(raw)
            shutil.copy(raw, RESULTS / "scale-profile.txt")
            bench.settle(namespace, sim)
            figure4 = {
                "apply_to_secret": apply_latency(bench, namespace, first_index=tokens),
                "token_change_to_consumers": fanout_latency(bench, namespace, sim),
            }
    finally:
        sim.stop()
        bench.delete_namespace(namespace)
    return {"tokens": tokens, "keys": UNLIMITED_KEYS, "cold_start": figure2, "latency": figure4}


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "samples": len(samples),
        "p50_seconds": round(percentile(samples, 0.50), 3),
        "p99_seconds": round(percentile(samples, 0.99), 3),
        "max_seconds": round(max(samples), 3),
    }


def apply_latency(bench: Bench, namespace: str, *, first_index: int) -> dict[str, Any]:
    """Apply one new BrokerToken at a time; seconds until its Secret exists (seen by a watch)."""
    appeared: dict[str, float] = {}
    lock = threading.Lock()

    def seen(kind: str, obj: Any, now: float) -> None:
        if kind == "ADDED":
            with lock:
                appeared.setdefault(obj.metadata.name, now)

    samples = []
    with Watcher(bench.core.list_namespaced_secret, namespace, label_selector=TOKEN_LABEL, on_event=seen):
        for i in range(first_index, first_index + LATENCY_SAMPLES):
            body = w.broker_token(i, connection=f"snyk-{i % UNLIMITED_KEYS}")
            name = body["metadata"]["name"]
            started = time.monotonic()
            bench.objects.create_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "brokertokens", body)

            def exists(name: str = name) -> bool:
                with lock:
                    return name in appeared

            w.wait_for(exists, timeout=60, what=f"Secret {name}", interval=0.005)
            with lock:
                samples.append(appeared[name] - started)
    return summary(samples)


def fanout_latency(bench: Bench, namespace: str, sim: w.SimulatorProcess) -> dict[str, Any]:
    """One BrokerToken with a given token and 100 consumer Deployments; change the token 100 times, each time until
    every consumer's pod template carries the new fingerprint."""
    name, given = "fanout", "fanout-given"
    first = str(uuid.uuid4())
    meta = client.V1ObjectMeta(name=given, labels={TOKEN_LABEL: name})
    bench.core.create_namespaced_secret(namespace, client.V1Secret(metadata=meta, string_data={"BROKER_TOKEN": first}))
    bench.parallel(lambda i: bench.deployment(namespace, f"fanout-{i}", secret=name, replicas=0), FANOUT_CONSUMERS)
    body = {
        "apiVersion": f"{w.GROUP}/{w.VERSION}",
        "kind": "BrokerToken",
        "metadata": {"name": name},
        "spec": {
            "connectionRef": {"name": "snyk-0"},
            "orgId": w.org_id(0),
            "integration": {"type": "github"},
            "source": {"existingSecretRef": {"name": given}},
        },
    }
    carried: dict[str, str] = {}
    changed_at: dict[tuple[str, str], float] = {}
    lock = threading.Lock()

    def seen(_: str, obj: Any, now: float) -> None:
        annotations = (obj.spec.template.metadata.annotations or {}) if obj.spec.template.metadata else {}
        value = annotations.get(FINGERPRINT_ANNOTATION, "")
        with lock:
            carried[obj.metadata.name] = value
            changed_at.setdefault((obj.metadata.name, value), now)

    def all_carry(value: str) -> bool:
        with lock:
            return sum(1 for n, v in carried.items() if n.startswith("fanout-") and v == value) == FANOUT_CONSUMERS

    total, spread = [], []
    with Watcher(bench.apps.list_namespaced_deployment, namespace, on_event=seen):
        bench.objects.create_namespaced_custom_object(w.GROUP, w.VERSION, namespace, "brokertokens", body)
        w.wait_for(lambda: all_carry(fingerprint(first)), timeout=120, what="the first token on 100 consumers")
        for _ in range(LATENCY_SAMPLES):
            token = str(uuid.uuid4())
            wanted = fingerprint(token)
            started = time.monotonic()
            bench.core.patch_namespaced_secret(given, namespace, {"stringData": {"BROKER_TOKEN": token}})
            w.wait_for(
                functools.partial(all_carry, wanted), timeout=60, what="the new token on 100 consumers", interval=0.005
            )
            with lock:
                times = [changed_at[(f"fanout-{i}", wanted)] for i in range(FANOUT_CONSUMERS)]
            total.append(max(times) - started)
            spread.append(max(times) - min(times))
    return {
        "consumers": FANOUT_CONSUMERS,
        "change_to_all_consumers": summary(total),
        "first_to_last_consumer": summary(spread),
    }


def plots(report: dict[str, Any]) -> None:
    ready_series, floor_series = [], []
    for size in report["sizes"]:
        times = size["cold_start"]["ready_times"]
        points = [(0.0, 0.0)] + [(t, float(i + 1)) for i, t in enumerate(times)]
        ready_series.append(svgplot.Series(f"{size['tokens']} tokens: Ready", points))
        floor = size["cold_start"]["floor_seconds"]
        floor_series.append(
            svgplot.Series(
                f"{size['tokens']} tokens: floor ({floor:.0f} s)",
                [(0.0, 0.0), (floor, float(size["tokens"]))],
                dashed=True,
            )
        )
    svgplot.write_chart(
        RESULTS / "scale-ready-over-time.svg",
        [*ready_series, *floor_series],
        title="Ready BrokerTokens over time at Snyk's rate limit (2,000 requests a minute)",
        x_label="seconds since the first create",
        y_label="BrokerTokens Ready",
    )
    rss = [(float(s["tokens"]), s["memory"]["rss_mib"]) for s in report["sizes"]]
    peak = [(float(s["tokens"]), s["memory"]["peak_rss_mib"]) for s in report["sizes"]]
    svgplot.write_chart(
        RESULTS / "scale-rss.svg",
        [
            svgplot.Series("RSS, converged", rss, markers=True),
            svgplot.Series("peak RSS (VmHWM)", peak, markers=True),
            svgplot.Series("goal: 120 MiB", [(0.0, 120.0), (max(x for x, _ in rss), 120.0)], dashed=True),
        ],
        title="Operator memory with 10,000 unrelated Secrets and 1,000 unrelated Deployments",
        x_label="BrokerTokens Ready",
        y_label="MiB",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000", help="BrokerTokens per run, comma-separated")
    parser.add_argument("--quiet-seconds", type=float, default=600, help="quiet window at the largest size")
    parser.add_argument("--no-unlimited", action="store_true", help="skip figures 2 and 4")
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep every process's log in this folder")
    parser.add_argument(
        "--only-unlimited",
        action="store_true",
        help="measure figures 2 and 4 alone (at the largest size) and replace them in the existing scale.json",
    )
    arguments = parser.parse_args()
    sizes = sorted(int(s) for s in arguments.sizes.split(","))
    if arguments.only_unlimited:
        # The other figures stay as they were measured; the file says when each part was.
        report: dict[str, Any] = json.loads((RESULTS / "scale.json").read_text())
    else:
        report = {}
    # A SIGTERM unwinds like Ctrl-C, so that processes, namespaces and the cluster are still cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report |= {
        "benchmark": "scale",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "operatorVersion": snyk_broker_operator.__version__,
        "machine": w.machine(),
        "setup": (
            "local control plane (etcd, kube-apiserver with audit log, controller-manager, scheduler, kwok) on the "
            "same cores; simulator and operator as processes on 127.0.0.1; operator at INFO, --all-namespaces, "
            f"leader election on; {NOISE_SECRETS} unrelated Secrets and {NOISE_DEPLOYMENTS} unrelated Deployments"
        ),
    }
    if not arguments.only_unlimited:
        report |= {"sizes": [], "sizesWhen": report["when"]}
    started = time.monotonic()
    with contextlib.ExitStack() as stack, w.log_directory(arguments.keep_logs) as log_dir:
        cluster = w.LocalCluster()
        stack.callback(cluster.release)
        cluster.install_crds()
        api: client.ApiClient = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        stack.callback(api.close)
        bench = Bench(cluster=cluster, api=api, log_dir=log_dir)
        noise = bench.create_noise()
        for namespace in noise:
            stack.callback(bench.delete_namespace, namespace)
        for tokens in [] if arguments.only_unlimited else sizes:
            quiet = arguments.quiet_seconds if tokens == sizes[-1] else min(arguments.quiet_seconds, RESYNC_SECONDS)
            report["sizes"].append(rate_limited_size(bench, tokens, quiet))
            print(f"scale: {tokens} tokens measured ({time.monotonic() - started:.0f}s so far)", flush=True)
        if not arguments.no_unlimited:
            report["unlimited"] = unlimited(bench, sizes[-1]) | {
                "when": datetime.now(UTC).isoformat(timespec="seconds")
            }
    report["bench_seconds" if not arguments.only_unlimited else "unlimited_bench_seconds"] = round(
        time.monotonic() - started
    )
    w.write_json(RESULTS / "scale.json", report)
    plots(report)
    print(one_line(report))
    return 0


def one_line(report: dict[str, Any]) -> str:
    parts = []
    for size in report["sizes"]:
        cold, quiet, memory, again = size["cold_start"], size["converged"], size["memory"], size["restart"]
        parts.append(
            f"{size['tokens']}: Ready {cold['converge_seconds']}s (floor {cold['floor_seconds']}s, ratio "
            f"{cold['ratio_to_floor']}, {cold['snyk_429']} 429s); quiet {quiet['snyk_calls']} calls, "
            f"{quiet['writes']} writes, {quiet['cpu_percent_of_a_core']}% CPU; RSS {memory['rss_mib']} MiB; restart "
            f"{again['all_reconciled_seconds']}s, {again['snyk_calls']} calls, {again['writes']} writes, "
            f"{again['rollouts']} rollouts"
        )
    if "unlimited" in report:
        free = report["unlimited"]
        applied = free["latency"]["apply_to_secret"]
        fanned = free["latency"]["token_change_to_consumers"]["change_to_all_consumers"]
        parts.append(
            f"unlimited {free['tokens']}: {free['cold_start']['tokens_per_second']}/s; apply->Secret p50 "
            f"{applied['p50_seconds']}s p99 {applied['p99_seconds']}s; change->{FANOUT_CONSUMERS} consumers p50 "
            f"{fanned['p50_seconds']}s p99 {fanned['p99_seconds']}s"
        )
    return "scale (bench/results/scale.json): " + " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
