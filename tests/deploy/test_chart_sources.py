"""One source of truth: what the chart shares with the kustomize install is a byte copy of it (`make generate`)."""

from __future__ import annotations

import subprocess
import sys

from support.chart import CHART
from support.cluster import REPO


def test_the_chart_crds_are_the_files_in_crds() -> None:
    generated = {path.name: path.read_bytes() for path in (REPO / "crds").glob("*.yaml")}
    generated.pop("kustomization.yaml")
    shipped = {path.name: path.read_bytes() for path in (CHART / "crds").iterdir()}
    assert sorted(shipped) == sorted(generated), "the chart's crds/ must hold exactly the CRDs of crds/"
    for name, content in generated.items():
        assert shipped[name] == content, f"{name} differs from crds/{name}: run `make generate`"


def test_the_chart_reads_its_rules_from_a_copy_of_the_base_rbac() -> None:
    assert (CHART / "files" / "rbac.yaml").read_bytes() == (REPO / "deploy" / "base" / "rbac.yaml").read_bytes()


def test_the_sync_helper_finds_no_drift() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "hack" / "sync_chart.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
