"""The generated CRDs are structural schemas the API server accepts, with no defaults, and documented fields.

Kubernetes refuses a CRD whose schema has a node without a type, a ``$ref``/``anyOf`` leftover, or CEL rules
over unbounded strings and lists (cost budget); ``default`` anywhere would make GitOps tools see drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from snyk_broker_operator.models import CRDS, GROUP, VERSION, CustomResourceKind, crdgen

Node = dict[str, Any]
ALLOWED_KEYS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}


def _schemas() -> Iterator[tuple[str, Node]]:
    for kind in CRDS:
        crd = yaml.safe_load(crdgen.render_crd(kind))
        yield kind.kind, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _walk(node: Node, path: str) -> Iterator[tuple[str, Node]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


NODES = [(f"{kind}{path}", node) for kind, root in _schemas() for path, node in _walk(root, "")]
PROPERTIES = [
    (f"{kind}{path}.{name}", child)
    for kind, root in _schemas()
    for path, node in _walk(root, "")
    for name, child in node.get("properties", {}).items()
]


@pytest.mark.parametrize(("path", "node"), NODES, ids=[path for path, _ in NODES])
def test_every_schema_node_has_a_type_and_only_structural_keywords(path: str, node: Node) -> None:
    assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}
    assert set(node) <= ALLOWED_KEYS, f"{path} has {set(node) - ALLOWED_KEYS}"


def test_no_schema_node_has_a_default_ref_union_title_or_nullable() -> None:
    text = "\n".join(crdgen.render_all().values())
    loaded = [yaml.safe_load(content) for content in crdgen.render_all().values()]
    forbidden = {"default", "$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "title", "nullable"}

    def keys(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, child in value.items():
                yield key
                yield from keys(child)
        elif isinstance(value, list):
            for child in value:
                yield from keys(child)

    found = {key for document in loaded for key in keys(document)} & forbidden
    assert not found
    assert "x-kubernetes-preserve-unknown-fields" not in text


@pytest.mark.parametrize(("path", "node"), PROPERTIES, ids=[path for path, _ in PROPERTIES])
def test_every_property_has_a_description(path: str, node: Node) -> None:
    if path.split(".", 1)[1] == "metadata":
        # The API server refuses anything but `type: object` for the root metadata.
        assert node == {"type": "object"}
        return
    assert node.get("description", "").strip(), path


@pytest.mark.parametrize(("path", "node"), NODES, ids=[path for path, _ in NODES])
def test_list_map_keys_are_required_fields_of_the_items(path: str, node: Node) -> None:
    if node.get("x-kubernetes-list-type") == "map":
        keys = node["x-kubernetes-list-map-keys"]
        assert keys
        assert set(keys) <= set(node["items"]["required"]), path


def _bounded(node: Node, path: str) -> Iterator[str]:
    """Paths of strings and lists under node that have no size bound (so CEL cost would be unbounded)."""
    for sub_path, sub in _walk(node, path):
        if "{}" in sub_path:
            continue
        if sub["type"] == "string" and "maxLength" not in sub and "enum" not in sub:
            yield sub_path
        if sub["type"] == "array" and "maxItems" not in sub:
            yield sub_path


CEL_NODES = [(path, node) for path, node in NODES if "x-kubernetes-validations" in node]


@pytest.mark.parametrize(("path", "node"), CEL_NODES, ids=[path for path, _ in CEL_NODES])
def test_cel_rules_have_a_message_and_touch_only_bounded_values(path: str, node: Node) -> None:
    for rule in node["x-kubernetes-validations"]:
        assert set(rule) == {"rule", "message"}
        assert rule["message"].strip()
        referenced = set(re.findall(r"self\.(\w+)\b(?!\s*\()", rule["rule"]))
        touched = [node] if not referenced else [node["properties"][name] for name in referenced]
        unbounded = [p for child in touched for p in _bounded(child, path)]
        assert not unbounded, f"{rule['rule']!r} reads unbounded {unbounded}"


@pytest.mark.parametrize("kind", CRDS, ids=[kind.kind for kind in CRDS])
def test_printer_columns_point_at_fields_of_the_schema(kind: CustomResourceKind) -> None:
    crd = yaml.safe_load(crdgen.render_crd(kind))
    version = crd["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        path = re.sub(r"\[\?\(.*?\)\]", "[]", column["jsonPath"]).strip(".")
        node = root
        for part in path.split("."):
            if part == "metadata":
                node = {"properties": {"creationTimestamp": {}}}
                continue
            name = part.removesuffix("[]")
            node = node["properties"][name]
            if part.endswith("[]"):
                node = node["items"]
        assert node is not root, column


def test_the_crds_have_the_agreed_names_scopes_and_subresources() -> None:
    crds = {kind.kind: yaml.safe_load(crdgen.render_crd(kind)) for kind in CRDS}
    expected = {
        "BrokerToken": ("brokertokens", "Namespaced", ["bt"]),
        "SnykConnection": ("snykconnections", "Namespaced", ["sc"]),
        "ClusterSnykConnection": ("clustersnykconnections", "Cluster", ["csc"]),
    }
    for kind, (plural, scope, short_names) in expected.items():
        crd = crds[kind]
        assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
        assert crd["spec"]["group"] == "snykbroker.dev"
        assert crd["spec"]["scope"] == scope
        assert crd["spec"]["names"]["shortNames"] == short_names
        assert crd["spec"]["names"]["categories"] == ["snyk"]
        [version] = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
        assert version["subresources"] == {"status": {}}
        assert version["schema"]["openAPIV3Schema"]["required"] == ["spec"]


def test_broker_token_printer_columns_are_ready_org_integration_fingerprint_consumers_age() -> None:
    crd = yaml.safe_load(crdgen.render_crd(CRDS[0]))
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    default_view = [column["name"] for column in columns if column.get("priority", 0) == 0]
    assert default_view == ["Ready", "Org", "Integration", "Fingerprint", "Consumers", "Age"]


def test_provision_stays_an_empty_object_with_no_properties() -> None:
    root = dict(_schemas())["BrokerToken"]
    provision = root["properties"]["spec"]["properties"]["source"]["properties"]["provision"]
    assert provision["type"] == "object"
    assert not provision.get("properties")
