"""Benchmark: how fast the operator converges N BrokerTokens on the real local cluster, and that it then stays quiet.

Runs the Snyk simulator in a thread (one group, N orgs with one github integration each, rate limits out of reach)
and the operator as a real process (`python -m snyk_broker_operator run --verbose`, DEBUG so that converged passes
are visible in its log) against the local control plane (`hack/local-cluster`; started, and stopped afterwards,
only when it is not already running). Then:

1. creates N BrokerTokens (provision github in org i) as fast as the API server takes them and measures the wall
   time from the first create until all N are Ready=True (the list is polled every 0.5 s), the Snyk calls made by
   endpoint (user_me, the credentials check, is left out) and the operator's RSS;
2. restarts the operator (SIGTERM, then a new process) and measures the time until its log shows a reconcile pass
   for each of the N, the Snyk calls made meanwhile and how many BrokerTokens got a new resourceVersion. Converged
   means quiet (design invariant 3): both must be 0, and the benchmark exits 1 when they are not;
3. deletes the BrokerTokens and the SnykConnection while the operator still runs (it removes its finalizers),
   stops the operator, deletes the namespace and stops the simulator, also when a step failed.

The figures include DEBUG logging and the simulator sharing the machine's cores with the control plane.
Writes bench/results/converge_at_scale.json and prints a one-line summary.
Run: .venv/bin/python bench/converge_at_scale.py [--tokens N] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
from kubernetes import client, config

import snyk_broker_operator
from snyk_broker_operator.simulator import SimulatorThread

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "converge_at_scale.json"
LOCAL_CLUSTER = REPO / "hack" / "local-cluster"
GROUP, VERSION = "snykbroker.dev", "v1alpha1"
SNYK_GROUP = "5b000000-0000-4000-8000-000000000001"
API_KEY = "bench-scale-key-with-group-access"
UNREACHABLE_RATE = 100_000  # requests per minute per key: the operator's limiter never waits on it
CREATE_WORKERS = 8
POLL_SECONDS = 0.5
# After the last reconcile line, writes or calls that trail it (a status patch, an event) still get this long
# to show up before the quiet check looks.
SETTLE_SECONDS = 3.0
USER_ME = "user_me"
PASS_DONE = re.compile(r"BrokerToken ([^/\s]+)/([^:\s]+): reconcile pass done")

T = TypeVar("T")


def org_id(index: int) -> str:
    return f"5c000000-0000-4000-8000-{index:012d}"


def integration_id(index: int) -> str:
    return f"5d000000-0000-4000-8000-{index:012d}"


def seed(tokens: int) -> dict[str, Any]:
    orgs = [
        {
            "id": org_id(i),
            "name": f"org-{i}",
            "integrations": [{"id": integration_id(i), "type": "github", "brokerEnabled": False}],
        }
        for i in range(tokens)
    ]
    return {
        "rateLimitPerMinute": UNREACHABLE_RATE,
        "groups": [{"id": SNYK_GROUP, "name": "bench", "orgs": orgs}],
        "apiKeys": [{"key": API_KEY, "group": SNYK_GROUP}],
    }


def broker_token(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BrokerToken",
        "metadata": {"name": f"token-{index}"},
        "spec": {
            "connectionRef": {"name": "snyk"},
            "orgId": org_id(index),
            "integration": {"type": "github"},
            "source": {"provision": {}},
        },
    }


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = POLL_SECONDS) -> T:
    """Call `probe` until it returns something truthy; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def ready(item: dict[str, Any]) -> bool:
    conditions = (item.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class LocalCluster:
    """The project's local control plane: reused when running, else started here and stopped by `release`."""

    def __init__(self) -> None:
        bin_dir = Path(self._run("bin-dir").stdout.strip())
        self.kubectl = bin_dir / "kubectl"
        self.started_here = self._run("status").returncode != 0
        result = self._run("up" if self.started_here else "kubeconfig")
        if result.returncode != 0:
            raise RuntimeError(f"hack/local-cluster failed:\n{result.stderr[-4000:]}")
        self.kubeconfig = Path(result.stdout.strip().splitlines()[-1])

    @staticmethod
    def _run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LOCAL_CLUSTER), *args], capture_output=True, text=True, check=False, timeout=1800)

    def kubectl_run(self, *args: str) -> None:
        subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    def install_crds(self) -> None:
        self.kubectl_run("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
        selector = "app.kubernetes.io/part-of=snyk-broker-operator"
        self.kubectl_run("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", selector)

    def release(self) -> None:
        if self.started_here and os.environ.get("SBO_KEEP_CLUSTER") != "1":
            self._run("down")


class Operator:
    """`snyk-broker-operator run --verbose` as a child process; each start logs to a file of its own."""

    def __init__(self, *, kubeconfig: Path, namespace: str, log_dir: Path) -> None:
        self._kubeconfig = kubeconfig
        self._namespace = namespace
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / "operator-0.log"
        self.starts = 0

    def start(self) -> None:
        assert self._process is None, "the operator is already running"
        self.starts += 1
        self.log_path = self._log_dir / f"operator-{self.starts}.log"
        args = [sys.executable, "-m", "snyk_broker_operator", "run", "--verbose"]
        args += ["--namespace", self._namespace, "--operator-namespace", self._namespace]
        # Leader election as in production; the Lease in the bench's namespace (the admin may write it there).
        args += ["--lease-namespace", self._namespace]
        environment = {**os.environ, "KUBECONFIG": str(self._kubeconfig), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        self._process = None

    def rss_mib(self) -> float:
        assert self._process is not None and self.running, "the operator is not running"
        for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        raise RuntimeError("no VmRSS in /proc status")

    def reconciled(self, namespace: str) -> set[str]:
        """Names of the BrokerTokens this run of the operator has logged a reconcile pass for."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return {name for ns, name in PASS_DONE.findall(text) if ns == namespace}

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


class Bench:
    """One run: the cluster objects in a namespace of its own, the simulator's call log, the operator."""

    def __init__(self, *, api: client.ApiClient, sim: SimulatorThread, operator: Operator, namespace: str) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.admin = httpx.Client(base_url=sim.admin_url, timeout=30)
        self.sim = sim
        self.operator = operator
        self.namespace = namespace

    def calls(self) -> list[dict[str, Any]]:
        response = self.admin.get("/state")
        response.raise_for_status()
        return list(response.json()["calls"])

    def listed(self, plural: str) -> list[dict[str, Any]]:
        found = cast(dict[str, Any], self.objects.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural))
        return list(found["items"])

    def tokens(self) -> list[dict[str, Any]]:
        return self.listed("brokertokens")

    def versions(self) -> dict[str, str]:
        return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in self.tokens()}

    def wait_while_running(self, probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
        """`wait_for` that fails at once when the operator process has exited (it would never converge)."""

        def checked() -> T | None:
            if not self.operator.running:
                raise RuntimeError(f"the operator exited while waiting for {what}")
            return probe()

        return wait_for(checked, timeout=timeout, what=what)

    def stable_versions(self, timeout: float) -> dict[str, str]:
        """The BrokerTokens' resourceVersions once they stop changing for SETTLE_SECONDS."""
        deadline = time.monotonic() + timeout
        last = self.versions()
        while time.monotonic() < deadline:
            time.sleep(SETTLE_SECONDS)
            current = self.versions()
            if current == last:
                return current
            last = current
        raise TimeoutError(f"the BrokerTokens kept changing for {timeout:.0f}s after Ready")

    def set_up(self, timeout: float) -> None:
        meta = client.V1ObjectMeta(name="snyk-api-token")
        self.core.create_namespaced_secret(
            self.namespace, client.V1Secret(metadata=meta, string_data={"apiToken": API_KEY})
        )
        connection = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": "snyk"},
            "spec": {"apiUrl": self.sim.base_url.removesuffix("/v1"), "apiTokenSecretRef": {"name": "snyk-api-token"}},
        }
        self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "snykconnections", connection)
        self.operator.start()

        def connection_ready() -> bool:
            found = self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "snykconnections", "snyk")
            return ready(cast(dict[str, Any], found))

        # Waited for before the clock starts, so that operator start-up is not counted as convergence.
        self.wait_while_running(connection_ready, timeout=timeout, what="the SnykConnection to be Ready")

    def converge(self, tokens: int, timeout: float) -> dict[str, Any]:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool:
            create = self.objects.create_namespaced_custom_object
            list(
                pool.map(
                    lambda i: create(GROUP, VERSION, self.namespace, "brokertokens", broker_token(i)), range(tokens)
                )
            )
        created = time.monotonic() - started

        def all_ready() -> bool:
            return sum(ready(item) for item in self.tokens()) == tokens

        self.wait_while_running(all_ready, timeout=timeout, what=f"{tokens} BrokerTokens Ready")
        seconds = time.monotonic() - started
        by_endpoint = Counter(c["endpoint"] for c in self.calls() if c["endpoint"] != USER_ME)
        return {
            "create_seconds": round(created, 2),
            "converge_seconds": round(seconds, 2),
            "tokens_per_second": round(tokens / seconds, 2),
            "snyk_calls_by_endpoint": dict(sorted(by_endpoint.items())),
            "rss_mib_converged": self.operator.rss_mib(),
        }

    def restart(self, tokens: int, timeout: float) -> dict[str, Any]:
        before = self.stable_versions(timeout)
        calls_before = len(self.calls())
        self.operator.stop()
        started = time.monotonic()
        self.operator.start()
        self.wait_while_running(
            lambda: len(self.operator.reconciled(self.namespace)) >= tokens,
            timeout=timeout,
            what=f"a reconcile pass for each of {tokens} BrokerTokens after the restart",
        )
        seconds = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)
        during = self.calls()[calls_before:]
        after = self.versions()
        return {
            "restart_reconcile_seconds": round(seconds, 2),
            "restart_snyk_calls": sum(c["endpoint"] != USER_ME for c in during),
            "restart_user_me_calls": sum(c["endpoint"] == USER_ME for c in during),
            "restart_changed_objects": sum(after.get(name) != version for name, version in before.items()),
            "rss_mib_after_restart": self.operator.rss_mib(),
        }

    def delete_objects(self) -> None:
        """Delete the BrokerTokens and the SnykConnection while the operator runs, so that it removes its
        finalizers; any still there after that (the operator died) lose them by hand."""
        plurals = ("brokertokens", "snykconnections")
        for plural in plurals:
            self.objects.delete_collection_namespaced_custom_object(GROUP, VERSION, self.namespace, plural)

        def remaining() -> list[tuple[str, str]]:
            return [(plural, item["metadata"]["name"]) for plural in plurals for item in self.listed(plural)]

        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not remaining(), timeout=120 if self.operator.running else 1, what="objects deleted")
        for plural, name in remaining():
            body = {"metadata": {"finalizers": None}}
            self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, body)
            print(f"warning: removed the finalizers of {plural}/{name} by hand", file=sys.stderr)

    def delete_namespace(self) -> None:
        self.core.delete_namespace(self.namespace, propagation_policy="Background")

        def gone() -> bool:
            return self.namespace not in {ns.metadata.name for ns in self.core.list_namespace().items if ns.metadata}

        try:
            wait_for(gone, timeout=120, what=f"namespace {self.namespace} deleted")
        except TimeoutError:
            print(f"warning: namespace {self.namespace} is still terminating", file=sys.stderr)


@contextlib.contextmanager
def bench_world(tokens: int, log_dir: Path) -> Iterator[Bench]:
    """Everything a run needs, torn down in reverse order whatever happens (each step even if an earlier one fails)."""
    with contextlib.ExitStack() as stack:
        cluster = LocalCluster()
        stack.callback(cluster.release)
        cluster.install_crds()
        api: client.ApiClient = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        stack.callback(api.close)
        sim = SimulatorThread(seed(tokens), random_seed=11)
        sim.start()
        stack.callback(sim.stop)
        namespace = f"bench-scale-{secrets.token_hex(3)}"
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        operator = Operator(kubeconfig=cluster.kubeconfig, namespace=namespace, log_dir=log_dir)
        bench = Bench(api=api, sim=sim, operator=operator, namespace=namespace)
        stack.callback(bench.admin.close)
        stack.callback(bench.delete_namespace)
        stack.callback(operator.stop)
        stack.callback(bench.delete_objects)
        try:
            yield bench
        except BaseException:
            print(f"operator log tail:\n{operator.log_tail()}", file=sys.stderr)
            raise


def run(tokens: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as log_dir, bench_world(tokens, Path(log_dir)) as bench:
        bench.set_up(timeout)
        converged = bench.converge(tokens, timeout)
        restarted = bench.restart(tokens, timeout)
    return {
        "benchmark": "converge_at_scale",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "operatorVersion": snyk_broker_operator.__version__,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": "local control plane; simulator thread on 127.0.0.1; operator process at DEBUG; no rate limiting",
        "tokens": tokens,
        **converged,
        **restarted,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50, help="BrokerTokens to converge (default 50)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds each phase may take (default 300)")
    arguments = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so that the operator, the namespace and the simulator are still cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(arguments.tokens, arguments.timeout)
    report["quiet_ok"] = report["restart_snyk_calls"] == 0 and report["restart_changed_objects"] == 0
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    calls = sum(report["snyk_calls_by_endpoint"].values())
    print(
        f"converge at scale ({RESULTS.name}): {report['tokens']} tokens Ready in {report['converge_seconds']}s "
        f"({report['tokens_per_second']}/s, {calls} Snyk calls, RSS {report['rss_mib_converged']} MiB); restart: "
        f"all reconciled in {report['restart_reconcile_seconds']}s, {report['restart_snyk_calls']} Snyk calls, "
        f"{report['restart_changed_objects']} objects changed, RSS {report['rss_mib_after_restart']} MiB"
        + ("" if report["quiet_ok"] else " -- NOT QUIET")
    )
    return 0 if report["quiet_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
