"""Integration fixtures: the CRDs on the real local cluster, a Snyk simulator per test, and the operator process.

Nothing is faked: the operator runs as `snyk-broker-operator run` against the API server and talks real HTTP to
the simulator on 127.0.0.1. Every operator log is kept for the end-of-session secret-leak scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from snyk_broker_operator.simulator import SimulatorThread
from support import snyk as world
from support.cluster import REPO, Cluster
from support.env import GROUP, VERSION, Env, assert_no_secret_leaked, release_objects
from support.operator import OperatorProcess


@pytest.fixture(scope="session")
def crds_installed(kube_cluster: Cluster) -> None:
    kube_cluster.run_kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
    kube_cluster.run_kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=snyk-broker-operator",
    )


@pytest.fixture
def snyk() -> Iterator[tuple[SimulatorThread, world.SimulatorAdmin]]:
    with SimulatorThread(world.seed(), random_seed=7) as simulator:
        admin = world.SimulatorAdmin(simulator.admin_url)
        try:
            yield simulator, admin
        finally:
            admin.close()


@pytest.fixture
def env(
    namespace: str,
    kube_api: client.ApiClient,
    kube_cluster: Cluster,
    crds_installed: None,
    snyk: tuple[SimulatorThread, world.SimulatorAdmin],
    tmp_path: Path,
) -> Iterator[Env]:
    simulator, admin = snyk
    log_path = tmp_path / "operator.log"
    operator = OperatorProcess(kube_cluster, namespaces=[namespace], operator_namespace=namespace, log_path=log_path)
    environment = Env(namespace, kube_api, kube_cluster, simulator, admin, operator)
    environment.create_secret("snyk-api-token", {"apiToken": world.GROUP_KEY})
    environment.create(
        "snykconnections",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": "snyk"},
            "spec": {"apiUrl": simulator.base_url.removesuffix("/v1"), "apiTokenSecretRef": {"name": "snyk-api-token"}},
        },
    )
    operator.start()
    try:
        yield environment
    finally:
        try:
            assert_no_secret_leaked(environment)
        finally:
            release_objects(environment)
            operator.stop()
