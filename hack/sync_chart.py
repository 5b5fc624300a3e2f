"""Copies what the Helm chart shares with the kustomize install into the chart, byte for byte (`make generate`).

One source of truth: the CRDs are generated into crds/ (crdgen) and the operator's RBAC rules are written once, in
deploy/base/rbac.yaml. The chart ships copies, because a packaged chart can read only its own files:

    crds/*.yaml (not kustomization.yaml)  ->  deploy/helm/snyk-broker-operator/crds/
    deploy/base/rbac.yaml                 ->  deploy/helm/snyk-broker-operator/files/rbac.yaml

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


def copies() -> dict[Path, Path]:
    """Each chart file and the file it must be a copy of."""
    wanted = {CHART / "crds" / source.name: source for source in sorted(CRDS.glob("*.yaml"))}
    wanted.pop(CHART / "crds" / "kustomization.yaml", None)
    wanted[CHART / "files" / "rbac.yaml"] = RBAC
    return wanted


def stale() -> list[Path]:
    """Chart CRD files with no counterpart in crds/ (a CRD that was removed or renamed)."""
    wanted = copies()
    return [path for path in sorted((CHART / "crds").glob("*.yaml")) if path not in wanted]


def differences() -> list[str]:
    problems = [
        f"{target.relative_to(REPO)} differs from {source.relative_to(REPO)}"
        for target, source in copies().items()
        if not target.is_file() or target.read_bytes() != source.read_bytes()
    ]
    problems += [f"{path.relative_to(REPO)} has no counterpart in crds/" for path in stale()]
    return problems


def write() -> None:
    for target, source in copies().items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            target.write_bytes(source.read_bytes())
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
