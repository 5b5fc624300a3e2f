"""The operator under test, as a real process: `snyk-broker-operator run`, which tests can restart or SIGKILL.

Its log (DEBUG) goes to a file so that tests can assert what it did and did not write there (no token, no key).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from support.cluster import Cluster


class OperatorProcess:
    def __init__(self, cluster: Cluster, *, namespaces: Sequence[str], operator_namespace: str, log_path: Path) -> None:
        self._cluster = cluster
        self._namespaces = tuple(namespaces)
        self._operator_namespace = operator_namespace
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, env: Mapping[str, str] | None = None) -> None:
        """Start the operator; `env` adds variables for this run only (e.g. SBO_FAILPOINTS for crash tests)."""
        assert self._process is None, "already running"
        args = [sys.executable, "-m", "snyk_broker_operator", "run", "--verbose"]
        for namespace in self._namespaces:
            args += ["--namespace", namespace]
        args += ["--operator-namespace", self._operator_namespace]
        environment = {**os.environ, "KUBECONFIG": str(self._cluster.kubeconfig), "PYTHONUNBUFFERED": "1"}
        environment.update(env or {})
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environment)
        log.close()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM and wait (a graceful stop), or SIGKILL (a crash)."""
        if self._process is None:
            return
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

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, *, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            time.sleep(0.1)
        raise AssertionError(f"the operator never logged {text!r}; log tail:\n{self.log_text()[-3000:]}")
