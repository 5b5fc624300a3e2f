"""What the cluster benchmarks share: the local control plane, a seeded Snyk simulator process, the operator as a
process (with its CPU time and memory read from /proc), and the BrokerTokens and API keys they are made of.

Everything runs on 127.0.0.1. The operator and the simulator are separate processes, so neither takes the other's
(or the benchmark's) Python interpreter lock: what /proc says about the operator is the operator's alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_CLUSTER = REPO / "hack" / "local-cluster"
GROUP, VERSION = "snykbroker.dev", "v1alpha1"
SNYK_GROUP = "5b000000-0000-4000-8000-000000000001"
API_KEY = "bench-scale-key-with-group-access"
# Snyk's documented v1 limit per API key (requests a minute), and what "out of reach" means for the simulator.
SNYK_RATE_LIMIT = 2000
UNREACHABLE_RATE = 100_000
POLL_SECONDS = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


def org_id(index: int) -> str:
    return f"5c000000-0000-4000-8000-{index:012d}"


def integration_id(index: int) -> str:
    return f"5d000000-0000-4000-8000-{index:012d}"


def api_key(index: int) -> str:
    """The benchmark's API keys: key 0 is API_KEY (the failover benchmark uses it alone)."""
    return API_KEY if index == 0 else f"{API_KEY}-{index}"


def seed(tokens: int, *, keys: int = 1, rate_limit: int = UNREACHABLE_RATE) -> dict[str, Any]:
    """One group with `tokens` orgs of one github integration each, and `keys` API keys with access to all."""
    orgs = [
        {
            "id": org_id(i),
            "name": f"org-{i}",
            "integrations": [{"id": integration_id(i), "type": "github", "brokerEnabled": False}],
        }
        for i in range(tokens)
    ]
    return {
        "rateLimitPerMinute": rate_limit,
        "groups": [{"id": SNYK_GROUP, "name": "bench", "orgs": orgs}],
        "apiKeys": [{"key": api_key(k), "group": SNYK_GROUP} for k in range(keys)],
    }


def broker_token(index: int, *, connection: str = "snyk") -> dict[str, Any]:
    """A BrokerToken that provisions the github integration of org `index`."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "BrokerToken",
        "metadata": {"name": f"token-{index}"},
        "spec": {
            "connectionRef": {"name": connection},
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpuModel": model,
        "memoryGiB": round(memory_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
    }


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


class SimulatorProcess:
    """`snyk-broker-operator simulate` on a seed written to a temporary file, as a process of its own."""

    def __init__(self, seed_document: dict[str, Any], *, log_dir: Path) -> None:
        self._seed_file = log_dir / f"seed-{time.monotonic_ns()}.yaml"
        self._seed_file.write_text(yaml.safe_dump(seed_document))
        self._log = (log_dir / "simulator.log").open("ab")
        args = [sys.executable, "-m", "snyk_broker_operator", "simulate", "--seed", str(self._seed_file)]
        args += ["--random-seed", "11"]
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode().strip()
        match = re.search(r"(http://\S+)/v1$", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"the simulator did not announce its address: {line!r}")
        self.root_url = match.group(1)
        self.admin = httpx.Client(base_url=self.root_url + "/_sim", timeout=60)

    def calls(self) -> list[dict[str, Any]]:
        response = self.admin.get("/state")
        response.raise_for_status()
        return list(response.json()["calls"])

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.admin.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=20)
        self._log.close()


class OperatorProcess:
    """`snyk-broker-operator run` as a child process, at the production log level unless told otherwise, serving
    its metrics on a free port; each start logs to a file of its own."""

    def __init__(self, *, kubeconfig: Path, args: list[str], log_dir: Path, name: str = "operator") -> None:
        self._kubeconfig = kubeconfig
        self._args = args
        self._log_dir = log_dir
        self._name = name
        self._process: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0
        self.starts = 0
        self.log_path = log_dir / f"{name}-0.log"

    def start(self) -> None:
        assert self._process is None, "the operator is already running"
        self.starts += 1
        self.log_path = self._log_dir / f"{self._name}-{self.starts}.log"
        self.metrics_port = free_port()
        args = [sys.executable, "-m", "snyk_broker_operator", "run", *self._args]
        args += ["--metrics-address", f"127.0.0.1:{self.metrics_port}"]
        environment = {**os.environ, "KUBECONFIG": str(self._kubeconfig), "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)

    @property
    def pid(self) -> int:
        assert self._process is not None, "the operator is not running"
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        self._process = None

    def _status_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc status")

    def rss_mib(self) -> float:
        """Resident memory now (VmRSS)."""
        return round(self._status_kib("VmRSS") / 1024, 1)

    def peak_rss_mib(self) -> float:
        """The most resident memory this process has had (VmHWM)."""
        return round(self._status_kib("VmHWM") / 1024, 1)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of every thread of the process so far (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric_sum(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include `labels`; 0 when it is not exported (yet)."""
        try:
            text = self.metrics()
        except OSError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def tokens_reconciled(self, namespace: str) -> int:
        """How many BrokerTokens of `namespace` this process has finished a pass for: each gets its per-token series
        after its first pass (snyk_broker_operator_token_stalled), and a new process starts with none."""
        try:
            text = self.metrics()
        except OSError:
            return 0
        marker = f'namespace="{namespace}"'
        return sum(
            1 for line in text.splitlines() if line.startswith("snyk_broker_operator_token_stalled{") and marker in line
        )

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@contextlib.contextmanager
def log_directory(keep: Path | None) -> Any:
    """Where processes log: `keep` when given (left in place), else a temporary folder removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        yield Path(folder)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
