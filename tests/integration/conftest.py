"""Integration fixtures: the CRDs on the real local cluster, a Snyk simulator per test, and the operator process.

Nothing is faked: the operator runs as `snyk-broker-operator run` against the API server and talks real HTTP to
the simulator on 127.0.0.1. It runs as its users run it: from the built wheel in a clean virtualenv, as the
image's unprivileged uid (support.installed), with a token of the ServiceAccount that deploy/ creates
(support.identity). Every operator log is kept for the end-of-session secret-leak scan.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from snyk_broker_operator.simulator import SimulatorThread
from support import identity, installed
from support import snyk as world
from support.cluster import Cluster
from support.env import GROUP, VERSION, Env, assert_no_secret_leaked, release_objects
from support.installed import Installed
from support.operator import OperatorProcess

INTEGRATION = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that judges the whole tier (the RBAC audit) runs after every other one.
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


def _runs_the_whole_tier(config: pytest.Config) -> bool:
    """Whether this session runs every integration test (no selection, no ignored file, no single node)."""
    if config.option.keyword or config.option.markexpr or config.option.deselect:
        return False
    if any(Path(path).resolve().is_relative_to(INTEGRATION) for path in config.option.ignore or ()):
        return False
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if "::" in arg or not (path == INTEGRATION or path in INTEGRATION.parents):
            return False
    return True


@pytest.fixture(scope="session")
def whole_tier(request: pytest.FixtureRequest) -> bool:
    return _runs_the_whole_tier(request.config)


@pytest.fixture(scope="session", autouse=True)
def audit_offset(kube_cluster: Cluster) -> int:
    """Where this session's requests start in the audit log (a reused cluster keeps earlier sessions' lines)."""
    log = kube_cluster.audit_log
    return log.stat().st_size if log is not None and log.exists() else 0


@pytest.fixture(scope="session")
def operator_install() -> Iterator[Installed]:
    """The wheel, built once per session and installed read-only into a virtualenv of its own."""
    built = installed.install()
    try:
        yield built
    finally:
        installed.remove(built)


@pytest.fixture(scope="session")
def operator_kubeconfig(kube_cluster: Cluster, operator_install: Installed) -> Path:
    """The install's ServiceAccount and RBAC applied, and a kubeconfig with a TokenRequest token for it."""
    identity.install_identity(kube_cluster)
    return identity.write_kubeconfig(kube_cluster, operator_install.root / "operator.kubeconfig")


@pytest.fixture
def snyk_seed() -> dict[str, Any]:
    """The Snyk world a test's simulator starts with; a module overrides this fixture for a world of its own."""
    return world.seed()


@pytest.fixture
def snyk(snyk_seed: dict[str, Any]) -> Iterator[tuple[SimulatorThread, world.SimulatorAdmin]]:
    with SimulatorThread(snyk_seed, random_seed=7) as simulator:
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
    operator_install: Installed,
    operator_kubeconfig: Path,
) -> Iterator[Env]:
    simulator, admin = snyk
    log_path = tmp_path / "operator.log"
    operator = OperatorProcess(
        kube_cluster,
        namespaces=[namespace],
        operator_namespace=namespace,
        log_path=log_path,
        kubeconfig=operator_kubeconfig,
        installed=operator_install,
    )
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
            _delete_lease(kube_api, environment.operator)


def _delete_lease(api: client.ApiClient, operator: OperatorProcess) -> None:
    """The test's Lease, left in the shared operator namespace by its operator (which may not delete it)."""
    with contextlib.suppress(ApiException):
        client.CoordinationV1Api(api).delete_namespaced_lease(operator.lease_name, operator.lease_namespace)
