"""One source of truth: what the chart shares with the kustomize install is a byte copy of it (`make generate`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

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


def test_the_alert_rules_have_one_source() -> None:
    """deploy/monitoring/rules.yaml is the one source: the chart reads a byte copy, and the kustomize PrometheusRule
    holds exactly its rule groups (generated, with a header saying so)."""
    source = REPO / "deploy" / "monitoring" / "rules.yaml"
    assert (CHART / "files" / "rules.yaml").read_bytes() == source.read_bytes()
    generated = REPO / "deploy" / "monitoring" / "prometheusrule.yaml"
    assert generated.read_text().startswith("# Generated from deploy/monitoring/rules.yaml by hack/sync_chart.py")
    rule = yaml.safe_load(generated.read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(source.read_text())


def test_the_sync_helper_reports_a_hand_edited_prometheus_rule(tmp_path: Path) -> None:
    # A copy of the helper and the files it reads, so the checkout is never touched.
    for relative in ("hack/sync_chart.py", "deploy/base/rbac.yaml", "deploy/monitoring/rules.yaml"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / relative, tmp_path / relative)
    shutil.copytree(REPO / "crds", tmp_path / "crds")
    chart_copy = tmp_path / "deploy" / "helm" / "snyk-broker-operator"
    shutil.copytree(CHART / "crds", chart_copy / "crds")
    shutil.copytree(CHART / "files", chart_copy / "files")
    generated = tmp_path / "deploy" / "monitoring" / "prometheusrule.yaml"
    shutil.copyfile(REPO / "deploy" / "monitoring" / "prometheusrule.yaml", generated)
    helper = [sys.executable, str(tmp_path / "hack" / "sync_chart.py")]
    assert subprocess.run([*helper, "--check"], capture_output=True, check=False).returncode == 0
    generated.write_text(generated.read_text().replace("for: 15m", "for: 30m"))
    result = subprocess.run([*helper, "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "deploy/monitoring/prometheusrule.yaml differs from what deploy/monitoring/rules.yaml gives" in result.stderr
    subprocess.run(helper, capture_output=True, check=True)
    assert generated.read_bytes() == (REPO / "deploy" / "monitoring" / "prometheusrule.yaml").read_bytes()


def test_the_sync_helper_finds_no_drift() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "hack" / "sync_chart.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
