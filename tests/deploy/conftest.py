"""The deploy tier: the Helm chart against the kustomize install, Kubernetes' schemas, and the local cluster.

Its tools come from the project's own build scripts (no-ops once built): Helm and kubeconform from
hack/build-tools.sh, kubectl (for `kubectl kustomize`) from hack/build-control-plane.sh. Tests without a cluster
fixture need no cluster; the others take `kube_cluster` or `namespace` (tests/conftest.py marks them `cluster`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import chart, manifest_schemas, tools
from support.cluster import REPO, Cluster


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    return tools.bin_dir()


@pytest.fixture(scope="session")
def helm(tools_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> chart.Helm:
    return chart.Helm(tools_bin / "helm", home=tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def kustomized() -> list[chart.Manifest]:
    """`kubectl kustomize deploy/`: what `kubectl apply -k deploy/` installs."""
    kubectl = chart.control_plane_bin_dir() / "kubectl"
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(REPO / "deploy")], capture_output=True, text=True, check=True
    ).stdout
    return chart.documents(rendered)


@pytest.fixture(scope="session")
def rendered_default(helm: chart.Helm) -> list[chart.Manifest]:
    """The chart with its default values, as release snyk-broker-operator in namespace snyk-broker-operator."""
    return chart.documents(helm.template())


@pytest.fixture(scope="session")
def kubeconform(tools_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """kubeconform, strict, with local schemas only: Kubernetes' for built-in kinds, crds/' for custom resources;
    a kind with no schema is an error, never skipped."""
    crd_schemas = manifest_schemas.write_crd_schemas(
        sorted((REPO / "crds").glob("*.snykbroker.dev.yaml")), tmp_path_factory.mktemp("crd-schemas")
    )
    return [
        str(tools_bin / "kubeconform"),
        "-strict",
        "-summary",
        "-verbose",  # list valid resources too, so a test can count them
        "-output",
        "json",
        "-schema-location",
        str(manifest_schemas.builtin_schemas() / manifest_schemas.BUILTIN_LOCATION),
        "-schema-location",
        str(crd_schemas / manifest_schemas.CRD_LOCATION),
    ]


@pytest.fixture
def cluster_helm(helm: chart.Helm, kube_cluster: Cluster, crds_installed: None) -> chart.Helm:
    return helm.with_kubeconfig(kube_cluster.kubeconfig)


@pytest.fixture
def release(cluster_helm: chart.Helm, namespace: str) -> Iterator[str]:
    """A unique release name for a test (its cluster-scoped ClusterRoles carry it); uninstalled afterwards."""
    name = f"r{namespace.rsplit('-', 1)[-1]}"
    try:
        yield name
    finally:
        cluster_helm.run("uninstall", name, "--namespace", namespace, "--ignore-not-found", "--wait", check=False)
