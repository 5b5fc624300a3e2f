"""The operator under test, as a real process: `snyk-broker-operator run`, which tests can restart or SIGKILL.

It runs as its image would: the installed wheel, as an unprivileged uid (support.installed), with the credentials
of the ServiceAccount the install creates (support.identity), never the admin's. Without an `installed` wheel (a
unit of the test support itself) it runs from the source tree.

It runs with leader election, as installed: on a Lease of its own (one per OperatorProcess unless a test shares
one between two processes to test the election), in the namespace where the install's Role on Leases is. Its
POD_NAME, its identity in the Lease, is kept across restarts, as a pod's is: a restarted operator takes its Lease
back at once instead of waiting for it to expire. Its renew deadline is longer than the default (TEST_LEASE_TIMINGS):
the chaos suite keeps the API server away for up to about 10 s and expects the operator to ride that out, while a
leader that cannot renew within the deadline exits, which in a pod the kubelet answers with a restart and here
nothing would. The election test runs with the defaults (`lease_timings=()`).

Its log (DEBUG) goes to a file so that tests can assert what it did and did not write there (no token, no key).
It serves its Prometheus metrics on a free loopback port, which is how tests count its reconcile passes: the
operator publishes that on purpose, unlike the wording of a log line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from support import identity
from support.cluster import Cluster
from support.installed import Installed

# A renew deadline of 20 s (lease 30 s) instead of 10 s (15 s): see the module's docstring.
TEST_LEASE_TIMINGS = ("--lease-duration", "30", "--renew-deadline", "20")


class OperatorProcess:
    def __init__(
        self,
        cluster: Cluster,
        *,
        namespaces: Sequence[str],
        operator_namespace: str,
        log_path: Path,
        kubeconfig: Path | None = None,
        installed: Installed | None = None,
        lease_name: str | None = None,
        lease_namespace: str = identity.OPERATOR_NAMESPACE,
        pod_name: str | None = None,
        lease_timings: Sequence[str] = TEST_LEASE_TIMINGS,
    ) -> None:
        self._cluster = cluster
        # The operator's own credentials (a ServiceAccount token); the admin kubeconfig only when none is given.
        self._kubeconfig = kubeconfig or cluster.kubeconfig
        self._installed = installed
        self._namespaces = tuple(namespaces)
        self._operator_namespace = operator_namespace
        self.log_path = log_path
        self.pod_name = pod_name or f"operator-{uuid.uuid4().hex[:10]}"
        self.lease_name = lease_name or f"sbo-{self.pod_name}"
        self.lease_namespace = lease_namespace
        self._lease_timings = tuple(lease_timings)
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.metrics_port = _free_port()
        # Passes counted by earlier processes: each start begins its counters at zero.
        self._passes_before: dict[str, float] = {}

    def start(self, *, env: Mapping[str, str] | None = None) -> None:
        """Start the operator; `env` adds variables for this run only (e.g. SBO_FAILPOINTS for crash tests)."""
        assert self._process is None, "already running"
        if self._installed is not None:
            args = [str(self._installed.command), "run", "--verbose"]
        else:
            args = [sys.executable, "-m", "snyk_broker_operator", "run", "--verbose"]
        for namespace in self._namespaces:
            args += ["--namespace", namespace]
        args += ["--operator-namespace", self._operator_namespace]
        args += ["--metrics-address", f"127.0.0.1:{self.metrics_port}"]
        args += ["--lease-name", self.lease_name, "--lease-namespace", self.lease_namespace, *self._lease_timings]
        environment = {
            **os.environ,
            "KUBECONFIG": str(self._kubeconfig),
            "PYTHONUNBUFFERED": "1",
            "POD_NAME": self.pod_name,
        }
        environment.update(env or {})
        log = self.log_path.open("ab")
        try:
            self._spawn(args, environment, log)
        finally:
            log.close()
        self.starts += 1

    def _spawn(self, args: list[str], environment: dict[str, str], log: IO[bytes]) -> None:
        if self._installed is not None:
            self._process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._installed.environment(environment),
                cwd="/",
                **self._installed.user(),
            )
        else:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)

    def sibling(self, log_path: Path, *, lease_timings: Sequence[str] | None = None) -> OperatorProcess:
        """Another replica: the same namespaces, credentials and Lease, another POD_NAME (identity in the Lease)."""
        return OperatorProcess(
            self._cluster,
            namespaces=self._namespaces,
            operator_namespace=self._operator_namespace,
            log_path=log_path,
            kubeconfig=self._kubeconfig,
            installed=self._installed,
            lease_name=self.lease_name,
            lease_namespace=self.lease_namespace,
            lease_timings=self._lease_timings if lease_timings is None else lease_timings,
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def signal(self, number: signal.Signals) -> None:
        """Send a signal without waiting (a test times what follows); `stop` then collects the process."""
        assert self._process is not None
        self._process.send_signal(number)

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM and wait (a graceful stop), or SIGKILL (a crash)."""
        if self._process is None:
            return
        for kind in ("BrokerToken",):
            self._passes_before[kind] = self.reconcile_passes(kind)
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self, *, kill: bool = False, env: Mapping[str, str] | None = None) -> None:
        self.stop(kill=kill)
        self.start(env=env)

    def metrics_text(self) -> str:
        """The operator's /metrics page; empty while it is not (yet) serving."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, OSError):
            return ""

    def reconcile_passes(self, kind: str) -> float:
        """Reconcile passes of `kind` this operator has finished, across restarts (from its metrics)."""
        total = self._passes_before.get(kind, 0.0)
        prefix = "snyk_broker_operator_reconcile_passes_total{"
        for line in self.metrics_text().splitlines():
            if line.startswith(prefix) and f'kind="{kind}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            time.sleep(0.1)
        raise AssertionError(f"the operator never logged {text!r}; log tail:\n{self.log_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
