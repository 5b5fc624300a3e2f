"""The Helm chart under test and the tools that check it: Helm and kubeconform from hack/build-tools.sh (built from
Go modules into a version-keyed cache), kubectl's kustomize from the control plane's cache.

Helm runs with its config, cache and data directories in a directory of the test session's own, so nothing is read
from or written to the user's ~/.config/helm.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from support.cluster import REPO

CHART = REPO / "deploy" / "helm" / "snyk-broker-operator"
BUILD_CONTROL_PLANE = REPO / "hack" / "build-control-plane.sh"
# Names as the kustomize install has them: `helm install snyk-broker-operator -n snyk-broker-operator`.
RELEASE = "snyk-broker-operator"
NAMESPACE = "snyk-broker-operator"
# The labels Helm adds that the kustomize install does not have (and may differ between releases).
HELM_LABELS = frozenset({"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"})

Manifest = dict[str, Any]


def control_plane_bin_dir() -> Path:
    """kubectl's directory, from hack/build-control-plane.sh (a no-op once built), which prints it last."""
    result = subprocess.run(["bash", str(BUILD_CONTROL_PLANE)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"build-control-plane.sh failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@dataclasses.dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path  # HELM_CONFIG_HOME, HELM_CACHE_HOME and HELM_DATA_HOME live below it
    kubeconfig: Path | None = None

    def with_kubeconfig(self, kubeconfig: Path) -> Helm:
        return dataclasses.replace(self, kubeconfig=kubeconfig)

    def run(
        self, *args: str, values: Mapping[str, Any] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`helm ARGS`, with `values` (if any) passed as a values file on stdin."""
        command = [str(self.binary), *args]
        if values is not None:
            command += ["--values", "-"]
        if self.kubeconfig is not None:
            command += ["--kubeconfig", str(self.kubeconfig)]
        environment = {
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            command,
            input=None if values is None else json.dumps(values),
            capture_output=True,
            text=True,
            check=False,
            env=environment,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def template(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        include_crds: bool = False,
    ) -> str:
        """`helm template` of the chart: the rendered YAML."""
        args = ["template", release, str(CHART), "--namespace", namespace]
        if include_crds:
            args.append("--include-crds")
        return self.run(*args, values=values or {}).stdout


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind_and_name(manifests: Iterable[Manifest]) -> dict[tuple[str, str], Manifest]:
    indexed: dict[tuple[str, str], Manifest] = {}
    for manifest in manifests:
        key = (manifest["kind"], manifest["metadata"]["name"])
        assert key not in indexed, f"{key} rendered twice"
        indexed[key] = manifest
    return indexed


def _drop_helm_labels(labels: dict[str, str] | None) -> None:
    if labels:
        for key in HELM_LABELS & set(labels):
            del labels[key]


def without_helm_labels(manifest: Manifest) -> Manifest:
    """A copy without Helm's labels: on the object, on a Deployment's selector, pod template and anti-affinity
    selectors, and on a PodDisruptionBudget's selector."""
    copy: Manifest = json.loads(json.dumps(manifest))
    _drop_helm_labels(copy["metadata"].get("labels"))
    if copy["kind"] == "Deployment":
        _drop_helm_labels(copy["spec"]["selector"]["matchLabels"])
        _drop_helm_labels(copy["spec"]["template"]["metadata"].get("labels"))
        anti = copy["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity", {})
        for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution", []):
            _drop_helm_labels(term["podAffinityTerm"]["labelSelector"]["matchLabels"])
    if copy["kind"] == "PodDisruptionBudget":
        _drop_helm_labels(copy["spec"]["selector"]["matchLabels"])
    return copy


def deployment(manifests: Iterable[Manifest]) -> Manifest:
    (found,) = [manifest for manifest in manifests if manifest["kind"] == "Deployment"]
    return found


def operator_container(manifests: Iterable[Manifest]) -> Manifest:
    (container,) = deployment(manifests)["spec"]["template"]["spec"]["containers"]
    return dict(container)
