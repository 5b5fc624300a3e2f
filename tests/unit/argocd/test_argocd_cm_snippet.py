"""deploy/argocd/argocd-cm-patch.yaml is exactly what hack/argocd_cm.py generates from the Argo CD customizations,
under the argocd-cm keys Argo CD documents (drift test)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml

REPO = Path(__file__).resolve().parents[3]
GENERATOR = REPO / "hack" / "argocd_cm.py"
SNIPPET = REPO / "deploy" / "argocd" / "argocd-cm-patch.yaml"
CUSTOMIZATIONS = REPO / "deploy" / "argocd" / "resource_customizations"
KINDS = ("BrokerToken", "ClusterSnykConnection", "SnykConnection")


def render(customizations: Path = CUSTOMIZATIONS) -> str:
    # hack/ is not a package: load the generator from its file, as `python hack/argocd_cm.py` runs it.
    spec = importlib.util.spec_from_file_location("argocd_cm", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(Callable[[Path], str], module.render)(customizations)


def snippet_data(text: str) -> dict[str, str]:
    document = cast(dict[str, Any], yaml.safe_load(text))
    assert (document["apiVersion"], document["kind"], document["metadata"]) == (
        "v1",
        "ConfigMap",
        {"name": "argocd-cm"},
    )
    return cast(dict[str, str], document["data"])


def test_the_committed_snippet_is_what_the_generator_writes() -> None:
    assert SNIPPET.read_text() == render(), "deploy/argocd/argocd-cm-patch.yaml is stale: run python hack/argocd_cm.py"


def test_each_kind_has_its_health_key_and_the_broker_token_its_rotate_action() -> None:
    data = snippet_data(SNIPPET.read_text())
    group = CUSTOMIZATIONS / "snykbroker.dev"
    health = {f"resource.customizations.health.snykbroker.dev_{kind}": (group / kind / "health.lua").read_text()
              for kind in KINDS}  # fmt: skip
    actions_key = "resource.customizations.actions.snykbroker.dev_BrokerToken"
    assert set(data) == {*health, actions_key}
    assert {key: data[key] for key in health} == health
    actions = group / "BrokerToken" / "actions"
    assert yaml.safe_load(data[actions_key]) == {
        "discovery.lua": (actions / "discovery.lua").read_text(),
        "definitions": [{"name": "rotate", "action.lua": (actions / "rotate" / "action.lua").read_text()}],
    }


def test_an_edited_script_shows_in_the_generated_snippet(tmp_path: Path) -> None:
    copy = tmp_path / "resource_customizations"
    shutil.copytree(CUSTOMIZATIONS, copy)
    script = copy / "snykbroker.dev" / "SnykConnection" / "health.lua"
    script.write_text(script.read_text().replace('"Degraded"', '"Suspended"'))
    edited = render(copy)
    assert edited != SNIPPET.read_text()
    assert snippet_data(edited)["resource.customizations.health.snykbroker.dev_SnykConnection"] == script.read_text()
