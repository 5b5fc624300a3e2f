"""Fixtures for the end-to-end tests with the real Snyk Broker: one broker server, one origin and one process node per
module (support.real_broker; gone once the module's tests are done, so the rest of `make test` runs without them),
and per test a `broker` world on top of the integration tier's `env`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import real_broker
from support.cluster import Cluster
from support.env import Env, broker_token
from support.gap_monitor import GapMonitor, GapReport
from support.rotation import wait_ready_and_current
from support.waiting import wait_for
from support.workloads import create_deployment

CLIENTS = "github-broker"  # the broker-client Deployment of every test (the sample's name)
# Where the benchmark (bench/rotation_gap.py) collects each rotation test's gap figures, one JSON line per test.
RESULTS_ENV = "SBO_GAP_RESULTS"


def hashed(token: str) -> str:
    """The broker server's `hashedIdentifier` of a token (sha256 hex), as /connections-status lists it."""
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def broker_install() -> Path:
    return real_broker.install_dir()


@pytest.fixture(scope="module")
def broker_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Broker logs name the tokens: they stay here, in the session's temporary directory, and are never printed.
    return tmp_path_factory.mktemp("real-broker")


@pytest.fixture(scope="module")
def broker_server(broker_install: Path, broker_work: Path) -> Iterator[real_broker.BrokerServer]:
    server = real_broker.BrokerServer(broker_install, broker_work)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def origin(broker_work: Path) -> Iterator[real_broker.Origin]:
    served = real_broker.Origin(broker_work)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def process_node(
    kube_cluster: Cluster, broker_install: Path, broker_work: Path
) -> Iterator[real_broker.ProcessNodeAgent]:
    agent = real_broker.ProcessNodeAgent(kube_cluster, broker_install, broker_work)
    try:
        yield agent
    finally:
        agent.stop()


@dataclasses.dataclass
class BrokerWorld:
    """One test's env plus the real broker: deploy real clients, ask the server what is connected, monitor gaps."""

    env: Env
    server: real_broker.BrokerServer
    origin: real_broker.Origin
    accept: Path

    def deploy_clients(self, name: str, *, replicas: int = 2, secret: str = "broker") -> None:
        dispatcher = self.env.simulator.base_url.removesuffix("/v1")
        body = real_broker.real_broker_client(
            name, secret=secret, replicas=replicas, server_url=self.server.url, dispatcher_url=dispatcher,
            origin=self.origin.address, accept=self.accept,
        )  # fmt: skip
        create_deployment(self.env, body)

    def provision(self, name: str = "broker", *, consumers: set[str], **spec: Any) -> dict[str, Any]:
        """Create the BrokerToken (provisioned, type github, Secret "broker") and wait until its consumers run it."""
        self.env.create("brokertokens", broker_token(name, secret={"name": "broker"}, **spec))
        return wait_ready_and_current(self.env, name, consumers=consumers, timeout=120)

    def connections(self) -> dict[str, set[str]]:
        """What the broker server holds: sha256(token) -> the ids of the clients connected with it."""
        listed = httpx.get(self.server.url + "/connections-status", timeout=2).json()
        return {c["hashedIdentifier"]: set(c["brokerClientIds"]) for c in listed}

    def wait_connected(self, token: str, *, clients: int, timeout: float = 60) -> None:
        def enough() -> bool:
            return len(self.connections().get(hashed(token), ())) >= clients

        wait_for(enough, timeout=timeout, what=f"{clients} broker client(s) connected with the current token")

    def wait_only(self, token: str, *, clients: int, timeout: float = 60) -> dict[str, set[str]]:
        """Wait until the server holds exactly this token, with exactly `clients` clients (every other one gone)."""

        def only() -> dict[str, set[str]] | None:
            found = self.connections()
            return found if set(found) == {hashed(token)} and len(found[hashed(token)]) == clients else None

        return wait_for(only, timeout=timeout, what=f"only the current token connected, by {clients} client(s)")

    def dispatcher_allocations(self) -> list[dict[str, str]]:
        """The simulator's dispatcher allocations (token fingerprint and client id per HA client start)."""
        listed = httpx.get(self.env.simulator.admin_url + "/dispatcher", timeout=5).json()["allocations"]
        return list(listed)

    def monitor(self, integration_id: str) -> GapMonitor:
        return GapMonitor(
            server_url=self.server.url, admin_url=self.env.simulator.admin_url, integration_id=integration_id
        )


def record(report: GapReport, test: str) -> None:
    """Print the figures (fingerprints only) and, under the benchmark, append them to its results file."""
    print(f"gap report {test}: {json.dumps(report.as_dict())}")
    target = os.environ.get(RESULTS_ENV)
    if target:
        with Path(target).open("a") as out:
            out.write(json.dumps({"test": test, **report.as_dict()}) + "\n")


@pytest.fixture
def broker(
    env: Env,
    broker_server: real_broker.BrokerServer,
    origin: real_broker.Origin,
    process_node: real_broker.ProcessNodeAgent,
    broker_work: Path,
) -> BrokerWorld:
    env.create_secret(real_broker.SCM_SECRET, {"token": "scm-token-for-tests"})
    env.extra_secrets.add("scm-token-for-tests")
    return BrokerWorld(env, broker_server, origin, real_broker.client_accept_file(broker_work))
