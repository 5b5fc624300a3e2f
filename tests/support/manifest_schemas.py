"""JSON Schemas for validating manifests offline with kubeconform (its default schema location is on the internet).

- Built-in kinds: Kubernetes' own schemas as the PyPI package kubernetes-validate bundles them (generated from the
  API server's OpenAPI), copied once into the tools cache with their `$ref`s made relative and their `$id`s
  dropped, so that kubeconform, which resolves a reference against the schema's base URI, finds
  `_definitions.json` next to them instead of on kubernetes.io (unreachable; and kubeconform skips a schema that
  fails to compile as if it were missing).
- Custom resources: a JSON Schema per CRD version, derived from the CRD's openAPIV3Schema (`crd_json_schema`).
  JSON Schema cannot express the CRDs' CEL rules (x-kubernetes-validations): only a server-side dry-run runs those.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

KUBERNETES_VERSION = "v1.37.0"  # the control plane's minor (hack/build-control-plane.sh builds v1.37.2)
_SCHEMA_SET = f"{KUBERNETES_VERSION}-local-strict"
# kubeconform's file naming for Kubernetes' schemas (deployment-apps-v1.json, serviceaccount-v1.json, ...).
BUILTIN_LOCATION = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
CRD_LOCATION = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"

JsonSchema = dict[str, Any]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snyk-broker-operator" / "tools" / "kubernetes-json-schema"


def builtin_schemas() -> Path:
    """The directory of Kubernetes' strict schemas for KUBERNETES_VERSION, prepared once per package version."""
    package_version = importlib.metadata.version("kubernetes-validate")
    target = _cache_root() / f"kubernetes-validate-{package_version}" / _SCHEMA_SET
    if (target / "_definitions.json").is_file():
        return target
    source = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / _SCHEMA_SET
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    try:
        for entry in source.iterdir():
            if entry.name.endswith(".json"):
                text = entry.read_text(encoding="utf-8").replace('"/api/_definitions.json#', '"_definitions.json#')
                schema = json.loads(text)
                schema.pop("$id", None)  # an https://kubernetes.io/... base would send references there
                (staging / entry.name).write_text(json.dumps(schema), encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:  # another session prepared it meanwhile
            if not (target / "_definitions.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _nullable(schema: JsonSchema) -> None:
    if schema.get("type") and schema["type"] != "null":
        schema["type"] = [schema["type"], "null"]


def structural_to_json_schema(node: Mapping[str, Any], *, strict: bool) -> JsonSchema:
    """A CRD's structural schema node as JSON Schema: `nullable` admits null, `x-kubernetes-int-or-string` admits
    an integer or a string, and (strict) an object with properties admits no other field, unless it preserves
    unknown fields, as the API server's pruning would drop them."""
    schema: JsonSchema = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            schema[key] = {name: structural_to_json_schema(child, strict=strict) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            schema[key] = structural_to_json_schema(value, strict=strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            schema[key] = [structural_to_json_schema(child, strict=strict) for child in value]
        else:
            schema[key] = value
    if node.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable"):
        _nullable(schema)
    preserves = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if strict and "properties" in schema and "additionalProperties" not in schema and not preserves:
        schema["additionalProperties"] = False
    return schema


def crd_json_schema(crd: Mapping[str, Any], *, strict: bool = True) -> dict[str, JsonSchema]:
    """Per served version of a CRD: kubeconform's relative path (CRD_LOCATION) -> the JSON Schema of its objects."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    schemas: dict[str, JsonSchema] = {}
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = structural_to_json_schema(version["schema"]["openAPIV3Schema"], strict=strict)
        properties = schema.setdefault("properties", {})
        properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        properties["kind"] = {"type": "string", "enum": [kind]}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schemas[f"{group}/{kind.lower()}_{version['name']}.json"] = schema
    return schemas


def write_crd_schemas(crd_files: Iterable[Path], target: Path) -> Path:
    """The JSON Schemas of every CRD in `crd_files`, written below `target` in kubeconform's CRD_LOCATION layout."""
    for crd_file in crd_files:
        for document in yaml.safe_load_all(crd_file.read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            for relative, schema in crd_json_schema(document).items():
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    return target
