"""The real Snyk Broker for end-to-end tests: its install, a broker server, an origin behind the clients, the process
node that runs broker-client pods, and the test copy of the sample broker-client Deployment.

Everything listens on 127.0.0.1 only (the broker processes through hack/snyk-broker/loopback.js). Broker logs go to
files and are never printed: they name the tokens.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from support.cluster import REPO, Cluster
from support.process_node.agent import NODE_LABEL, TAINT
from support.process_node.pod import die_with_parent
from support.waiting import wait_for
from support.workloads import broker_client

NODE_NAME = "process-node-0"
SAMPLE_IMAGE = "snyk/broker:github-com"
SCM_SECRET = "github-scm-token"
ORIGIN_BODY = "origin-ok"
# The server relays everything; each client may reach its origin (GITHUB_API, set per Deployment) for any path.
SERVER_ACCEPT = {"private": [{"method": "any", "path": "/*"}], "public": [{"method": "any", "path": "/*"}]}
CLIENT_ACCEPT = {
    "private": [{"method": "any", "path": "/*", "origin": "http://${GITHUB_API}"}],
    "public": [{"method": "any", "path": "/*"}],
}


def install_dir() -> Path:
    """The pinned snyk-broker install (hack/build-broker.sh; `make test` runs it first, so this is a no-op there)."""
    result = subprocess.run(
        ["bash", str(REPO / "hack" / "build-broker.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"hack/build-broker.sh failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def broker_command(install: Path, mode: str) -> list[str]:
    """The image's command (`broker`, client mode by default) mapped to the installed CLI."""
    return ["node", "--require", str(install / "loopback.js"), str(install / "node_modules" / ".bin" / "broker"), mode]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BrokerServer:
    """`broker server` on a free loopback port; answers connection-status and relays /broker/<token>/<path>."""

    def __init__(self, install: Path, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        accept = work / "accept-server.json"
        accept.write_text(json.dumps(SERVER_ACCEPT))
        self.log_path = work / "broker-server.log"
        env = {"PATH": os.environ["PATH"], "HOME": str(work), "PORT": str(self.port), "ACCEPT": str(accept)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*die_with_parent(), *broker_command(install, "server")], env=env, cwd=work, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            wait_for(self._healthy, timeout=30, what="the broker server to answer /healthcheck")
        except BaseException:
            self.stop()
            raise

    def _healthy(self) -> bool:
        assert self.process.poll() is None, "the broker server exited (see its log)"
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + "/healthcheck", timeout=1).status_code == 200
        return False

    def relays(self, token: str, path: str = "probe", *, timeout: float = 2.0) -> bool:
        """Whether a request to /broker/<token>/<path> reaches the origin through a client and comes back."""
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"{self.url}/broker/{token}/{path}", timeout=timeout)
            return response.status_code == 200 and ORIGIN_BODY in response.text
        return False

    def stop(self) -> None:
        _stop(self.process, grace=5)


class Origin:
    """What sits behind the broker clients (the SCM), as a process of its own (support/origin_server.py)."""

    def __init__(self, work: Path) -> None:
        port_file = work / "origin.port"
        port_file.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
        self.process = subprocess.Popen(
            [*die_with_parent(), sys.executable, "-m", "support.origin_server", str(port_file)], env=env
        )
        try:
            wait_for(lambda: port_file.exists() and port_file.read_text(), timeout=20, what="the origin to listen")
        except BaseException:
            self.stop()
            raise
        self.address = f"127.0.0.1:{port_file.read_text()}"

    @property
    def requests(self) -> int:
        """How many requests reached the origin so far."""
        return int(httpx.get(f"http://{self.address}/_count", timeout=5).text)

    def stop(self) -> None:
        _stop(self.process, grace=5)


class ProcessNodeAgent:
    """The process node (support.process_node) as a subprocess, mapping the sample's image to the installed CLI."""

    def __init__(self, cluster: Cluster, install: Path, work: Path) -> None:
        images = work / "images.json"
        images.write_text(json.dumps({SAMPLE_IMAGE: broker_command(install, "client")}))
        self.log_dir = work / "pods"
        self.log_path = work / "process-node.log"
        args = [sys.executable, "-m", "support.process_node", f"--kubeconfig={cluster.kubeconfig}",
                f"--node={NODE_NAME}", f"--images={images}", f"--log-dir={self.log_dir}"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*die_with_parent(), *args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work
            )
        try:
            wait_for(self._registered, timeout=30, what=f"the process node to register node {NODE_NAME}")
            cluster.run_kubectl("wait", "--for=condition=Ready", f"node/{NODE_NAME}", "--timeout=60s")
            # The not-ready taint admission puts on a new node goes once the node lifecycle controller sees it Ready.
            wait_for(lambda: self._untainted(cluster), timeout=60, what=f"node {NODE_NAME} to lose its not-ready taint")
        except BaseException:
            self.stop()
            raise

    def _registered(self) -> bool:
        assert self.process.poll() is None, f"the process node exited; see {self.log_path}"
        return "ready" in self.log_path.read_text().splitlines()

    def _untainted(self, cluster: Cluster) -> bool:
        assert self.process.poll() is None, f"the process node exited; see {self.log_path}"
        taints = cluster.run_kubectl("get", "node", NODE_NAME, "-o", "jsonpath={.spec.taints[*].key}").split()
        return taints == [TAINT["key"]]

    def stop(self) -> None:
        _stop(self.process, grace=30)


def _stop(process: subprocess.Popen[bytes], *, grace: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def client_accept_file(work: Path) -> Path:
    path = work / "accept-client.json"
    path.write_text(json.dumps(CLIENT_ACCEPT))
    return path


def real_broker_client(
    name: str, *, secret: str, replicas: int, server_url: str, dispatcher_url: str, origin: str, accept: Path
) -> dict[str, Any]:
    """The sample broker client (deploy/samples/broker-client-github.yaml), as the test copy runs it: on the process
    node (nodeSelector and toleration), against the local broker server and the simulator's dispatcher, relaying to
    `origin`, probed every second; the image, command, HA mode, PORT and the Secret references are the sample's."""
    body = copy.deepcopy(broker_client(name, secret=secret, replicas=replicas))
    spec = body["spec"]["template"]["spec"]
    spec["nodeSelector"] = {NODE_LABEL: "true"}
    spec["tolerations"] = [{"key": TAINT["key"], "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    (container,) = spec["containers"]
    overrides = {
        "BROKER_SERVER_URL": server_url,
        "BROKER_DISPATCHER_BASE_URL": dispatcher_url,
        "GITHUB_API": origin,
        "ACCEPT": str(accept),
        "PREFLIGHT_CHECKS_ENABLED": "false",
        "IPV6_CONNECTIVITY_CHECK_ENABLED": "false",
    }
    env = [e for e in container["env"] if e["name"] not in overrides]
    container["env"] = env + [{"name": key, "value": value} for key, value in overrides.items()]
    container["readinessProbe"].update({"initialDelaySeconds": 1, "periodSeconds": 1})
    container.pop("livenessProbe", None)  # the process node runs no liveness probes
    return dict(body)
