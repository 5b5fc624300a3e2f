"""Fixtures shared by every tier.

Unit tests use none of these. Integration tests take `kube_api` (a real client of a real API server) and
`namespace` (one per test, deleted afterwards); the cluster comes from tests/support/cluster.py and is never faked.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from support import cluster as cluster_support


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[cluster_support.Cluster]:
    acquired = cluster_support.acquire()
    try:
        yield acquired
    finally:
        cluster_support.release(acquired)


@pytest.fixture(scope="session")
def crds_installed(kube_cluster: cluster_support.Cluster) -> None:
    """The CRDs from crds/ on the session's cluster, Established, before any operator or release uses them (so that
    parallel Helm releases find them and skip their own crds/, never racing to create them)."""
    kube_cluster.run_kubectl("apply", "--server-side", "--force-conflicts", "-k", str(cluster_support.REPO / "crds"))
    kube_cluster.run_kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=snyk-broker-operator",
    )


@pytest.fixture(scope="session")
def kube_api(kube_cluster: cluster_support.Cluster) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kube_cluster.kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube_api: client.ApiClient) -> Iterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos", action="store_true", help="also run the chaos scenarios (`make chaos`); `make test` runs a short one"
    )
    parser.addoption(
        "--real-broker-all",
        action="store_true",
        help="also run the heavier end-to-end tests with the real Snyk Broker (`make broker-e2e`)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Anything that touches the cluster is marked, so `pytest -m "not cluster"` runs without one.
    for item in items:
        if {"kube_cluster", "kube_api", "namespace"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
    # The chaos scenarios take about 11 minutes together: only `--chaos` runs them (a deselection, not a skip, so
    # that `make test` does not report 7 skips every time).
    if not config.getoption("--chaos"):
        chaos = [item for item in items if item.get_closest_marker("chaos") is not None]
        if chaos:
            config.hook.pytest_deselected(items=chaos)
            items[:] = [item for item in items if item.get_closest_marker("chaos") is None]
    # The same for the heavier real-broker tests (tests/integration/real_broker): `make test` runs a short subset.
    if not config.getoption("--real-broker-all"):
        heavy = [item for item in items if item.get_closest_marker("real_broker_heavy") is not None]
        if heavy:
            config.hook.pytest_deselected(items=heavy)
            items[:] = [item for item in items if item.get_closest_marker("real_broker_heavy") is None]
