"""`helm template` output validated offline with kubeconform: built-in kinds against Kubernetes' own schemas (from
kubernetes-validate), custom resources against JSON Schema derived from crds/. No kind may go unvalidated.

The custom resources come from deploy/samples/, installed through the chart's extraObjects. JSON Schema cannot
run the CRDs' CEL rules: test_chart_cluster.py's server-side dry-run does.

The Prometheus Operator's kinds (ServiceMonitor, PrometheusRule) have no schema here: their CRDs come with the
Prometheus Operator, and kubeconform's catalog is online. kubeconform skips exactly those, and hack/tools/
monitoring-check decodes them strictly into the Prometheus Operator's own Go API types instead (an unknown field or
a wrong type is an error), besides the fields those CRDs require. The rules inside are promtool's
(test_alert_rules.py).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from support import chart, manifest_schemas
from support.chart import Helm
from support.cluster import REPO
from support.tools import tool_path

SAMPLES = sorted((REPO / "deploy" / "samples").rglob("*.yaml"))
MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")
EVERY_VALUE: dict[str, Any] = {
    "image": {"repository": "registry.example.com/sbo", "tag": "1.2.3", "pullPolicy": "IfNotPresent"},
    "imagePullSecrets": [{"name": "registry"}],
    "watchNamespaces": ["team-a", "team-b"],
    "operatorNamespace": "snyk-secrets",
    "logLevel": "debug",
    "metrics": {
        "enabled": True,
        "port": 9100,
        "service": {"annotations": {"prometheus.io/scrape": "true"}},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}, "interval": "30s", "scrapeTimeout": "10s"},
        "prometheusRule": {"enabled": True, "labels": {"release": "prom"}, "runbookBaseUrl": "https://x.example/"},
    },
    "extraArgs": ["--kubeconfig", "/etc/kube/config"],
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}]
            }
        }
    },
    "podAnnotations": {"example.com/note": "x"},
    "podLabels": {"team": "platform"},
    "serviceAccount": {"annotations": {"example.com/role": "sbo"}},
}


def sample_objects() -> list[chart.Manifest]:
    return [doc for path in SAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubeconform_results(command: list[str], manifests: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*command, "-skip", ",".join(MONITORING_KINDS), "-"],
        input=manifests,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    resources: list[dict[str, Any]] = report["resources"]
    return resources


def monitoring_check(manifests: str) -> tuple[int, list[dict[str, str]]]:
    result = subprocess.run(
        [str(tool_path("monitoring-check"))], input=manifests, capture_output=True, text=True, check=False, timeout=30
    )
    assert not result.stderr, result.stderr
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "values",
    [{}, {"watchNamespaces": ["team-a"]}, EVERY_VALUE],
    ids=["defaults", "namespace-scoped", "every-value"],
)
def test_the_rendered_chart_and_the_samples_are_valid(
    helm: Helm, kubeconform: list[str], values: dict[str, Any]
) -> None:
    rendered = helm.template({**values, "extraObjects": sample_objects()}, include_crds=True)
    documents = chart.documents(rendered)
    kinds = {doc["kind"] for doc in documents}
    assert {"CustomResourceDefinition", "Deployment", "BrokerToken", "SnykConnection", "ClusterSnykConnection"} <= kinds
    results = kubeconform_results(kubeconform, rendered)
    monitoring = [(doc["kind"], doc["metadata"]["name"]) for doc in documents if doc["kind"] in MONITORING_KINDS]
    assert [(r["kind"], r["name"], r["status"], r.get("msg", "")) for r in results if r["status"] != "statusValid"] == [
        (kind, name, "statusSkipped", "") for kind, name in monitoring
    ]
    assert len(results) == len(documents), "kubeconform must have seen every document"
    returncode, checked = monitoring_check(rendered)
    assert returncode == 0, checked
    assert [(c["kind"], c["name"], c["status"]) for c in checked if c["status"] != "skipped"] == [
        (kind, name, "valid") for kind, name in monitoring
    ]
    if values is EVERY_VALUE:
        assert sorted(kind for kind, _ in monitoring) == sorted(MONITORING_KINDS)


def test_the_kustomize_monitoring_objects_are_valid() -> None:
    kubectl = chart.control_plane_bin_dir() / "kubectl"
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(REPO / "deploy" / "monitoring")], capture_output=True, text=True, check=True
    ).stdout
    returncode, checked = monitoring_check(rendered)
    assert returncode == 0, checked
    assert sorted((c["kind"], c["status"]) for c in checked) == [
        ("PrometheusRule", "valid"),
        ("ServiceMonitor", "valid"),
    ]


def test_monitoring_check_refuses_what_the_prometheus_operator_types_refuse() -> None:
    bad = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "typo"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "metrics", "honorLabel": True}]},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "no-endpoints"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "wrong-type"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "labels": ["x"]}]}]},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "alert-and-record"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "record": "r", "expr": "up"}]}]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}},
    ]
    returncode, checked = monitoring_check(yaml.safe_dump_all(bad))
    assert returncode == 1
    by_name = {c["name"]: c for c in checked}
    assert 'unknown field "honorLabel"' in by_name["typo"]["message"]
    assert by_name["no-endpoints"]["message"] == "spec.endpoints is empty"
    assert "cannot unmarshal array" in by_name["wrong-type"]["message"]
    assert "exactly one of alert and record" in by_name["alert-and-record"]["message"]
    assert by_name["other"]["status"] == "skipped"


def test_kubeconform_refuses_what_the_schemas_refuse(kubeconform: list[str]) -> None:
    bad = [
        {
            "apiVersion": "snykbroker.dev/v1alpha1",
            "kind": "BrokerToken",
            "metadata": {"name": "bad"},
            "spec": {"orgID": "x", "integration": {"type": 3}},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bad"},
            "spec": {"replicas": "two", "selector": {}, "template": {}, "strategie": {}},
        },
        {"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "no-schema"}},
    ]
    results = {r["kind"]: r for r in kubeconform_results(kubeconform, yaml.safe_dump_all(bad))}
    token = results["BrokerToken"]["msg"]
    assert "missing properties 'connectionRef', 'orgId', 'source'" in token
    assert "at '/spec/integration/type': got number, want string" in token
    assert "additional properties 'orgID' not allowed" in token
    deployment = results["Deployment"]["msg"]
    assert "at '/spec/replicas': got string, want null or integer" in deployment
    assert "additional properties 'strategie' not allowed" in deployment
    assert results["Unknown"]["status"] == "statusError", "a kind without a schema is an error, not skipped"


def test_nullable_int_or_string_and_preserved_fields_convert_to_json_schema() -> None:
    node = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            "rules": {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "integer"}}}},
        },
        "x-kubernetes-validations": [{"rule": "self.port != 0"}],
    }
    assert manifest_schemas.structural_to_json_schema(node, strict=True) == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "note": {"type": ["string", "null"]},
            "free": {"type": "object", "properties": {"a": {}}},
            "rules": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": False, "properties": {"b": {"type": "integer"}}},
            },
        },
    }


def test_each_crd_version_gets_a_schema_with_its_apiversion_and_kind() -> None:
    crd = yaml.safe_load((REPO / "crds" / "brokertokens.snykbroker.dev.yaml").read_text())
    (path, schema), *_ = manifest_schemas.crd_json_schema(crd).items()
    assert path == "snykbroker.dev/brokertoken_v1alpha1.json"
    assert schema["properties"]["apiVersion"]["enum"] == ["snykbroker.dev/v1alpha1"]
    assert schema["properties"]["kind"]["enum"] == ["BrokerToken"]
    assert {"apiVersion", "kind", "metadata", "spec"} <= set(schema["required"])
