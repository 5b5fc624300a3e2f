"""Benchmark: how long two operator replicas on one Lease take to hand over, after a crash and after a clean stop.

Runs the Snyk simulator in a thread and two operator processes (`python -m snyk_broker_operator run`, leader
election with the default durations: lease 15 s, renew deadline 10 s, retry 2 s) on one Lease against the local
control plane (`hack/local-cluster`; started, and stopped afterwards, only when it is not already running), with a
few converged BrokerTokens. Then, alternately, the leader is stopped and the standby timed:

- SIGKILL (a crash, a lost node): the Lease is not released, so the standby waits until it has seen it unchanged
  for the lease duration;
- SIGTERM (a rolling update, a drain): the leader stops Kopf and releases the Lease, and the standby takes it at its
  next poll.

For each: seconds from the signal until the standby says it leads (its snyk_broker_operator_leader gauge) and until
its first finished reconcile pass (snyk_broker_operator_reconcile_passes_total), both read from its metrics every
50 ms. The stopped replica is started again as the new standby before the next round, and each signal comes at a random
point of the standby's 2-second poll cycle (a fixed seed), as it would in a real rollout.
Writes bench/results/failover.json and prints a one-line summary.
Run: .venv/bin/python bench/failover.py [--rounds N] [--tokens N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from scale_world import API_KEY, GROUP, VERSION, LocalCluster, broker_token, free_port, ready, seed, wait_for

import snyk_broker_operator
from snyk_broker_operator.simulator import SimulatorThread

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "failover.json"
SAMPLE_SECONDS = 0.05


class Replica:
    """One operator process; its POD_NAME (identity in the Lease) and metrics port stay across restarts."""

    def __init__(self, name: str, *, kubeconfig: Path, namespace: str, lease: str, log_dir: Path) -> None:
        self.name = name
        self._kubeconfig = kubeconfig
        self._namespace = namespace
        self._lease = lease
        self._log_dir = log_dir
        self.port = free_port()
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None
        self.starts += 1
        args = [sys.executable, "-m", "snyk_broker_operator", "run", "--namespace", self._namespace]
        args += ["--operator-namespace", self._namespace, "--metrics-address", f"127.0.0.1:{self.port}"]
        args += ["--lease-name", self._lease, "--lease-namespace", self._namespace]
        environment = {**os.environ, "KUBECONFIG": str(self._kubeconfig), "POD_NAME": self.name}
        with (self._log_dir / f"{self.name}-{self.starts}.log").open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)
        wait_for(lambda: self.metrics() is not None, timeout=60, what=f"{self.name} serving metrics", interval=0.1)

    def signal(self, number: signal.Signals) -> None:
        assert self._process is not None
        self._process.send_signal(number)

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

    def metrics(self) -> dict[str, float] | None:
        """(leader, passes) from its /metrics; None while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=1) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return None
        found = {"leader": 0.0, "passes": 0.0}
        for line in text.splitlines():
            if line.startswith("snyk_broker_operator_leader "):
                found["leader"] = float(line.split()[-1])
            if line.startswith("snyk_broker_operator_reconcile_passes_total{") and 'kind="BrokerToken"' in line:
                found["passes"] += float(line.split()[-1])
        return found

    def leads(self) -> bool:
        return (self.metrics() or {}).get("leader") == 1.0


def hand_over(
    leader: Replica, standby: Replica, how: signal.Signals, timeout: float, rng: random.Random
) -> dict[str, float]:
    # The standby was just started and has just polled: signal at a random point of its cycle, not always right after.
    time.sleep(rng.uniform(0.0, 2.0))
    passes_before = (standby.metrics() or {}).get("passes", 0.0)
    started = time.monotonic()
    leader.signal(how)
    leads_after: float | None = None
    while True:
        now = time.monotonic() - started
        sample = standby.metrics() or {}
        if leads_after is None and sample.get("leader") == 1.0:
            leads_after = now
        if sample.get("passes", 0.0) > passes_before:
            assert leads_after is not None
            leader.stop()
            return {"leading_seconds": round(leads_after, 2), "first_pass_seconds": round(now, 2)}
        if now > timeout:
            raise TimeoutError(f"{standby.name} did not take over within {timeout:.0f}s of {how.name}")
        time.sleep(SAMPLE_SECONDS)


@contextlib.contextmanager
def world(tokens: int, log_dir: Path) -> Iterator[tuple[Replica, Replica]]:
    with contextlib.ExitStack() as stack:
        cluster = LocalCluster()
        stack.callback(cluster.release)
        cluster.install_crds()
        api: client.ApiClient = config.new_client_from_config(config_file=str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
        stack.callback(api.close)
        sim = SimulatorThread(seed(tokens), random_seed=13)
        sim.start()
        stack.callback(sim.stop)
        core, objects = client.CoreV1Api(api), client.CustomObjectsApi(api)
        namespace = f"bench-failover-{secrets.token_hex(3)}"
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        stack.callback(core.delete_namespace, namespace, propagation_policy="Background")
        replicas = tuple(
            Replica(name, kubeconfig=cluster.kubeconfig, namespace=namespace, lease="failover", log_dir=log_dir)
            for name in ("replica-a", "replica-b")
        )
        for replica in replicas:
            stack.callback(replica.stop)
        # Deleted while an operator still runs, so that it removes its finalizers (callbacks run last first).
        stack.callback(objects.delete_collection_namespaced_custom_object, GROUP, VERSION, namespace, "brokertokens")
        meta = client.V1ObjectMeta(name="snyk-api-token")
        core.create_namespaced_secret(namespace, client.V1Secret(metadata=meta, string_data={"apiToken": API_KEY}))
        api_url = sim.base_url.removesuffix("/v1")
        connection = {"apiUrl": api_url, "apiTokenSecretRef": {"name": "snyk-api-token"}}
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SnykConnection", "metadata": {"name": "snyk"}}
        objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "snykconnections", {**body, "spec": connection}
        )
        for index in range(tokens):
            objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "brokertokens", broker_token(index))
        replicas[0].start()
        wait_for(replicas[0].leads, timeout=60, what="the first replica to lead")
        replicas[1].start()

        def all_ready() -> bool:
            listed = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "brokertokens")["items"]
            return sum(ready(item) for item in listed) == tokens

        wait_for(all_ready, timeout=120, what=f"{tokens} BrokerTokens Ready")
        yield replicas


def summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    passes = [r["first_pass_seconds"] for r in rounds]
    return {
        "rounds": rounds,
        "first_pass_seconds_median": round(statistics.median(passes), 2),
        "first_pass_seconds_max": round(max(passes), 2),
        "first_pass_seconds_min": round(min(passes), 2),
    }


def run(rounds: int, tokens: int) -> dict[str, Any]:
    measured: dict[str, list[dict[str, float]]] = {"SIGKILL": [], "SIGTERM": []}
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as log_dir, world(tokens, Path(log_dir)) as replicas:
        leader, standby = replicas
        for how in [signal.SIGKILL, signal.SIGTERM] * rounds:
            measured[how.name].append(hand_over(leader, standby, how, timeout=60, rng=rng))
            print(f"{how.name}: {measured[how.name][-1]}", file=sys.stderr)
            leader.start()  # the stopped one comes back as the standby
            leader, standby = standby, leader
    return {
        "benchmark": "failover",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "operatorVersion": snyk_broker_operator.__version__,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": "local control plane; simulator thread; two operator processes on one Lease, default durations "
        "(lease 15 s, renew deadline 10 s, retry 2 s); times from the signal to the standby's leader gauge and to "
        "its first finished reconcile pass",
        "tokens": tokens,
        "sigkill": summary(measured["SIGKILL"]),
        "sigterm": summary(measured["SIGTERM"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="handovers of each kind (default 3)")
    parser.add_argument("--tokens", type=int, default=5, help="BrokerTokens the operator reconciles (default 5)")
    arguments = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so that the operators, the namespace and the simulator are still cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(arguments.rounds, arguments.tokens)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    kill, term = report["sigkill"], report["sigterm"]
    print(
        f"failover ({RESULTS.name}): after SIGKILL the standby's first pass in {kill['first_pass_seconds_median']}s "
        f"(median; {kill['first_pass_seconds_min']}-{kill['first_pass_seconds_max']}s), after SIGTERM in "
        f"{term['first_pass_seconds_median']}s ({term['first_pass_seconds_min']}-{term['first_pass_seconds_max']}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
