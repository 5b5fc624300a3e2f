"""Copies what the Helm chart shares with the kustomize install into the chart, byte for byte (`make generate`),
and generates the kustomize PrometheusRule from the alert rules.

One source of truth: the CRDs are generated into crds/ (crdgen), the operator's RBAC rules are written once, in
deploy/base/rbac.yaml, and its alert rules once, as plain Prometheus rule groups, in deploy/monitoring/rules.yaml.
The chart ships copies, because a packaged chart can read only its own files; kustomize cannot put a file into a
field, so the PrometheusRule it installs is generated (the rule groups indented under `spec:`, comments kept):

    crds/*.yaml (not kustomization.yaml)  ->  deploy/helm/snyk-broker-operator/crds/
    deploy/base/rbac.yaml                 ->  deploy/helm/snyk-broker-operator/files/rbac.yaml
    deploy/monitoring/rules.yaml          ->  deploy/helm/snyk-broker-operator/files/rules.yaml
                                          ->  deploy/monitoring/prometheusrule.yaml (generated)

    python hack/sync_chart.py           # write the copies (and remove chart CRDs that crds/ no longer has)
    python hack/sync_chart.py --check   # exit 1, naming the files, when a copy differs (tests/deploy checks the same)

Standard library only, like hack/local-cluster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "snyk-broker-operator"
CRDS = REPO / "crds"
RBAC = REPO / "deploy" / "base" / "rbac.yaml"
RULES = REPO / "deploy" / "monitoring" / "rules.yaml"
PROMETHEUS_RULE = REPO / "deploy" / "monitoring" / "prometheusrule.yaml"
PROMETHEUS_RULE_HEAD = """\
# Generated from deploy/monitoring/rules.yaml by hack/sync_chart.py (`make generate`): edit that file, not this one.
# The operator's alerts for the Prometheus Operator (runbooks: docs/operations.md#alerts).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: snyk-broker-operator
spec:
"""


def copies() -> dict[Path, Path]:
    """Each chart file and the file it must be a copy of."""
    wanted = {CHART / "crds" / source.name: source for source in sorted(CRDS.glob("*.yaml"))}
    wanted.pop(CHART / "crds" / "kustomization.yaml", None)
    wanted[CHART / "files" / "rbac.yaml"] = RBAC
    wanted[CHART / "files" / "rules.yaml"] = RULES
    return wanted


def prometheus_rule() -> bytes:
    """deploy/monitoring/prometheusrule.yaml: rules.yaml without its leading comment block, indented under `spec:`.
    Indenting every line alike keeps block scalars (multi-line expressions) as they are."""
    lines = RULES.read_text(encoding="utf-8").splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("#")):
        lines.pop(0)
    body = "".join(f"  {line}\n" if line.strip() else "\n" for line in lines)
    return (PROMETHEUS_RULE_HEAD + body).encode("utf-8")


def generated() -> dict[Path, bytes]:
    """Each generated file and the content it must have: the copies, and the PrometheusRule."""
    wanted = {target: source.read_bytes() for target, source in copies().items()}
    wanted[PROMETHEUS_RULE] = prometheus_rule()
    return wanted


def stale() -> list[Path]:
    """Chart CRD files with no counterpart in crds/ (a CRD that was removed or renamed)."""
    wanted = copies()
    return [path for path in sorted((CHART / "crds").glob("*.yaml")) if path not in wanted]


def differences() -> list[str]:
    sources = {**copies(), PROMETHEUS_RULE: RULES}
    problems = [
        f"{target.relative_to(REPO)} differs from what {sources[target].relative_to(REPO)} gives"
        for target, content in generated().items()
        if not target.is_file() or target.read_bytes() != content
    ]
    problems += [f"{path.relative_to(REPO)} has no counterpart in crds/" for path in stale()]
    return problems


def write() -> None:
    for target, content in generated().items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != content:
            target.write_bytes(content)
            print(f"wrote {target.relative_to(REPO)}")
    for path in stale():
        path.unlink()
        print(f"removed {path.relative_to(REPO)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `make generate` (python hack/sync_chart.py) to update the chart", file=sys.stderr)
        return 1 if problems else 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
