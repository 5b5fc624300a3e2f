"""The chart renders the kustomize install (apart from Helm's labels), each value does what values.yaml says, and
values.schema.json refuses a wrong type. The optional ServiceMonitor and PrometheusRule are deploy/monitoring/'s.
`helm lint --strict` and `helm template` only: no cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import chart
from support.chart import CHART, Helm, Manifest
from support.cluster import REPO

# What `kubectl apply -k deploy/` creates that the chart does not template: the namespace (`helm install
# --create-namespace`) and the CRDs (the chart's crds/, byte copies of crds/: test_chart_sources.py).
NOT_TEMPLATED = frozenset({"Namespace", "CustomResourceDefinition"})
CLUSTER_SCOPED = frozenset(
    {"clustersnykconnections", "clustersnykconnections/status", "namespaces", "customresourcedefinitions"}
)

Grant = tuple[str, str, str]
MONITORING = {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}


def comparable(manifest: Manifest) -> Manifest:
    """Without Helm's labels (chart.without_helm_labels), also on the selectors of the metrics Service and the
    ServiceMonitor."""
    copy = chart.without_helm_labels(manifest)
    if copy["kind"] == "Service":
        copy["spec"]["selector"].pop("app.kubernetes.io/instance", None)
    if copy["kind"] == "ServiceMonitor":
        copy["spec"]["selector"]["matchLabels"].pop("app.kubernetes.io/instance", None)
    return copy


@pytest.fixture(scope="session")
def kustomized_monitoring() -> list[Manifest]:
    """`kubectl kustomize deploy/monitoring/`: the optional ServiceMonitor and PrometheusRule."""
    kubectl = chart.control_plane_bin_dir() / "kubectl"
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(REPO / "deploy" / "monitoring")], capture_output=True, text=True, check=True
    ).stdout
    return chart.documents(rendered)


def grants(rules: list[dict[str, Any]]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def base_rules(kustomized: list[Manifest]) -> list[dict[str, Any]]:
    return list(chart.by_kind_and_name(kustomized)[("ClusterRole", "snyk-broker-operator")]["rules"])


def test_helm_lint_strict_passes(helm: Helm) -> None:
    result = helm.run("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout, result.stdout


def test_the_packaged_chart_renders_the_same(helm: Helm, tmp_path: Path) -> None:
    # A packaged chart holds only its own files: the copies in crds/ and files/ make it self-contained.
    helm.run("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("snyk-broker-operator-*.tgz")
    packaged = helm.run("template", chart.RELEASE, str(package), "--namespace", chart.NAMESPACE, "--include-crds")
    assert packaged.stdout == helm.template(include_crds=True)
    # files/rules.yaml too, which only the PrometheusRule reads.
    with_rules = helm.run("template", chart.RELEASE, str(package), "--namespace", chart.NAMESPACE, values=MONITORING)
    assert with_rules.stdout == helm.template(MONITORING)


def test_the_chart_templates_the_objects_kustomize_installs(
    kustomized: list[Manifest], rendered_default: list[Manifest]
) -> None:
    expected = {key for key, m in chart.by_kind_and_name(kustomized).items() if m["kind"] not in NOT_TEMPLATED}
    assert set(chart.by_kind_and_name(rendered_default)) == expected


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("ServiceAccount", "snyk-broker-operator"),
        ("ClusterRole", "snyk-broker-operator"),
        ("ClusterRoleBinding", "snyk-broker-operator"),
        ("ClusterRole", "snyk-broker-operator-edit"),
        ("ClusterRole", "snyk-broker-operator-view"),
        ("Role", "snyk-broker-operator-leader-election"),
        ("RoleBinding", "snyk-broker-operator-leader-election"),
        ("Deployment", "snyk-broker-operator"),
        ("PodDisruptionBudget", "snyk-broker-operator"),
        ("Service", "snyk-broker-operator-metrics"),
    ],
    ids=lambda value: str(value),
)
def test_each_object_matches_kustomize_apart_from_helm_labels(
    kustomized: list[Manifest], rendered_default: list[Manifest], kind: str, name: str
) -> None:
    # The whole object: for the Deployment that is the strategy, selector, and the pod spec (args, env, probes,
    # ports, security contexts, resources, serviceAccountName, image); for the roles their rules and aggregation
    # labels; for the Service its selector and ports.
    expected = chart.by_kind_and_name(kustomized)[(kind, name)]
    actual = comparable(chart.by_kind_and_name(rendered_default)[(kind, name)])
    assert actual == expected


def test_metrics_are_served_and_exposed_by_default(rendered_default: list[Manifest]) -> None:
    container = chart.operator_container(rendered_default)
    args = container["args"]
    assert args[args.index("--metrics-address") + 1] == "0.0.0.0:9090"
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    service = chart.by_kind_and_name(rendered_default)[("Service", "snyk-broker-operator-metrics")]
    pod_labels = chart.deployment(rendered_default)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items(), "the Service selects the operator pods"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    kinds = {m["kind"] for m in rendered_default}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}, "their CRDs may be missing: off by default"


def test_metrics_can_be_turned_off(helm: Helm) -> None:
    rendered = chart.documents(helm.template({"metrics": {"enabled": False}}))
    container = chart.operator_container(rendered)
    assert "--metrics-address" not in container["args"]
    assert "ports" not in container
    assert "Service" not in {m["kind"] for m in rendered}


def test_the_monitoring_objects_match_deploy_monitoring_apart_from_helm_labels(
    helm: Helm, kustomized_monitoring: list[Manifest]
) -> None:
    rendered = chart.documents(helm.template(MONITORING))
    expected = chart.by_kind_and_name(kustomized_monitoring)
    assert set(expected) == {("ServiceMonitor", "snyk-broker-operator"), ("PrometheusRule", "snyk-broker-operator")}
    actual = chart.by_kind_and_name(
        comparable(m) for m in rendered if m["kind"] in ("ServiceMonitor", "PrometheusRule")
    )
    assert actual == expected
    # The ServiceMonitor scrapes the metrics Service (and nothing else of the release) as the rules expect.
    objects = chart.by_kind_and_name(rendered)
    monitor = objects[("ServiceMonitor", "snyk-broker-operator")]
    service = objects[("Service", "snyk-broker-operator-metrics")]
    selected = [
        m for m in rendered if monitor["spec"]["selector"]["matchLabels"].items() <= m["metadata"]["labels"].items()
    ]
    assert selected == [service]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == [{"targetLabel": "job", "replacement": "snyk-broker-operator"}]


def test_the_prometheus_rule_holds_the_rule_groups_of_deploy_monitoring(helm: Helm) -> None:
    source = yaml.safe_load((REPO / "deploy" / "monitoring" / "rules.yaml").read_text())
    rendered = chart.documents(helm.template(MONITORING, release="team-a", namespace="ops"))
    rule = chart.by_kind_and_name(rendered)[("PrometheusRule", "team-a-snyk-broker-operator")]
    assert rule["metadata"]["namespace"] == "ops"
    assert rule["spec"] == source


def test_monitoring_values(helm: Helm) -> None:
    values = {
        "metrics": {
            "port": 9100,
            "service": {"annotations": {"prometheus.io/scrape": "true"}},
            "serviceMonitor": {
                "enabled": True,
                "labels": {"release": "prom"},
                "interval": "30s",
                "scrapeTimeout": "10s",
            },
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "prom"},
                "runbookBaseUrl": "https://git.example.com/sbo/blob/main/",
            },
        }
    }
    objects = chart.by_kind_and_name(chart.documents(helm.template(values)))
    service = objects[("Service", "snyk-broker-operator-metrics")]
    assert service["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}
    assert service["spec"]["ports"][0]["port"] == 9100
    monitor = objects[("ServiceMonitor", "snyk-broker-operator")]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("30s", "10s")
    rule = objects[("PrometheusRule", "snyk-broker-operator")]
    assert rule["metadata"]["labels"]["release"] == "prom"
    urls = [r["annotations"]["runbook_url"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert urls and all(url.startswith("https://git.example.com/sbo/blob/main/docs/operations.md#") for url in urls)


def test_every_object_carries_helm_labels(rendered_default: list[Manifest]) -> None:
    for manifest in rendered_default:
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", manifest["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == chart.RELEASE
        assert labels["helm.sh/chart"] == "snyk-broker-operator-0.1.0"


def test_another_release_name_prefixes_every_name(helm: Helm) -> None:
    rendered = chart.documents(helm.template(release="team-a", namespace="ops"))
    names = {m["metadata"]["name"] for m in rendered}
    assert names == {
        "team-a-snyk-broker-operator",
        "team-a-snyk-broker-operator-edit",
        "team-a-snyk-broker-operator-view",
        "team-a-snyk-broker-operator-leader-election",
        "team-a-snyk-broker-operator-metrics",
    }
    objects = chart.by_kind_and_name(rendered)
    binding = objects[("ClusterRoleBinding", "team-a-snyk-broker-operator")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "team-a-snyk-broker-operator", "namespace": "ops"}
    ]
    lease_binding = objects[("RoleBinding", "team-a-snyk-broker-operator-leader-election")]
    assert lease_binding["metadata"]["namespace"] == "ops"
    assert lease_binding["subjects"] == binding["subjects"]
    # Two releases in one namespace lead by Leases of their own.
    args = chart.operator_container(rendered)["args"]
    assert args[args.index("--lease-name") + 1] == "team-a-snyk-broker-operator"


def test_leader_election_values(helm: Helm) -> None:
    default = chart.documents(helm.template())
    assert chart.deployment(default)["spec"]["replicas"] == 2
    assert chart.deployment(default)["spec"]["strategy"]["type"] == "RollingUpdate"
    tuned = chart.documents(helm.template({"leaderElection": {"leaseDuration": 30, "renewDeadline": 20}}))
    args = chart.operator_container(tuned)["args"]
    at = args.index("--lease-duration")
    assert args[at : at + 4] == ["--lease-duration", "30", "--renew-deadline", "20"]
    single = chart.documents(helm.template({"replicaCount": 1, "leaderElection": {"enabled": False}}))
    kinds = chart.by_kind_and_name(single)
    assert "--no-leader-election" in chart.operator_container(single)["args"]
    assert ("Role", "snyk-broker-operator-leader-election") not in kinds
    assert ("PodDisruptionBudget", "snyk-broker-operator") not in kinds, "a PDB on one replica blocks every drain"
    spread = chart.deployment(chart.documents(helm.template({"podAntiAffinity": "none"})))
    assert "affinity" not in spread["spec"]["template"]["spec"]


def test_watched_namespaces_give_a_namespace_scoped_install(helm: Helm, kustomized: list[Manifest]) -> None:
    rendered = chart.documents(helm.template({"watchNamespaces": ["team-a", "team-b"]}, namespace="ops"))
    args = chart.operator_container(rendered)["args"]
    assert args[:5] == ["run", "--namespace", "team-a", "--namespace", "team-b"]
    assert "--all-namespaces" not in args
    name = "snyk-broker-operator"
    per_namespace = [m for m in rendered if m["kind"] in ("Role", "RoleBinding") and m["metadata"]["name"] == name]
    roles = [m for m in per_namespace if m["kind"] == "Role"]
    assert sorted(m["metadata"]["namespace"] for m in roles) == ["team-a", "team-b"]
    bindings = [m for m in per_namespace if m["kind"] == "RoleBinding"]
    assert sorted(m["metadata"]["namespace"] for m in bindings) == ["team-a", "team-b"]
    assert all(m["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "ops"}] for m in bindings)
    objects = chart.by_kind_and_name(m for m in rendered if m not in per_namespace)
    assert ("ClusterRoleBinding", name) not in objects, "no cluster-wide binding of the operator's full role"
    namespaced = grants(roles[0]["rules"])
    cluster = grants(objects[("ClusterRole", f"{name}-cluster")]["rules"])
    assert {resource for _, resource, _ in namespaced}.isdisjoint(CLUSTER_SCOPED)
    assert {resource for _, resource, _ in cluster} <= CLUSTER_SCOPED
    # Split, not changed: together they are exactly the rules of deploy/base/rbac.yaml.
    assert namespaced | cluster == grants(base_rules(kustomized))
    secrets_role = objects[("Role", f"{name}-connection-secrets")]
    assert secrets_role["metadata"]["namespace"] == "ops"
    assert grants(secrets_role["rules"]) == {("", "secrets", "get")}


def test_watching_the_operator_namespace_needs_no_extra_secrets_role(helm: Helm) -> None:
    rendered = chart.documents(helm.template({"watchNamespaces": ["ops"]}, namespace="ops"))
    assert ("Role", "snyk-broker-operator-connection-secrets") not in chart.by_kind_and_name(rendered)


def test_operator_flags_follow_the_values(helm: Helm) -> None:
    values = {
        "logLevel": "debug",
        "logFormat": "json",
        "metrics": {"enabled": True, "port": 9100},
        "operatorNamespace": "snyk-secrets",
        "extraArgs": ["--kubeconfig", "/etc/kube/config"],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    }
    container = chart.operator_container(chart.documents(helm.template(values)))
    assert container["args"] == [
        "run",
        "--all-namespaces",
        "--liveness",
        "http://0.0.0.0:8080/healthz",
        "--operator-namespace",
        "snyk-secrets",
        "--metrics-address",
        "0.0.0.0:9100",
        "--verbose",
        "--log-format",
        "json",
        "--kubeconfig",
        "/etc/kube/config",
    ]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    assert container["env"][2:] == [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]


def test_pod_settings_follow_the_values(helm: Helm) -> None:
    values: dict[str, Any] = {
        "image": {"repository": "registry.example.com/sbo", "tag": "1.2.3", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "replicaCount": 0,
        "resources": {"requests": {"cpu": "10m"}, "limits": None},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        "podAnnotations": {"example.com/note": "x"},
        "podLabels": {"team": "platform"},
        # Helm merges maps with the defaults; null removes a default key.
        "podSecurityContext": {"runAsUser": 65532},
        "securityContext": {"capabilities": None, "runAsGroup": 65532},
        "serviceAccount": {"create": False, "name": "existing"},
    }
    rendered = chart.documents(helm.template(values))
    assert "ServiceAccount" not in {m["kind"] for m in rendered}
    deployment = chart.deployment(rendered)
    assert deployment["spec"]["replicas"] == 0
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {"example.com/note": "x"}
    assert template["metadata"]["labels"]["team"] == "platform"
    assert "team" not in deployment["spec"]["selector"]["matchLabels"]
    pod = template["spec"]
    assert pod["serviceAccountName"] == "existing"
    assert pod["imagePullSecrets"] == values["imagePullSecrets"]
    for key in ("nodeSelector", "tolerations", "affinity"):
        assert pod[key] == values[key]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/sbo:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"requests": {"cpu": "10m", "memory": "128Mi"}}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsGroup": 65532,
    }
    binding = chart.by_kind_and_name(rendered)[("ClusterRoleBinding", "snyk-broker-operator")]
    assert binding["subjects"][0]["name"] == "existing"


def test_service_account_annotations(helm: Helm) -> None:
    rendered = chart.documents(helm.template({"serviceAccount": {"annotations": {"example.com/role": "sbo"}}}))
    account = chart.by_kind_and_name(rendered)[("ServiceAccount", "snyk-broker-operator")]
    assert account["metadata"]["annotations"] == {"example.com/role": "sbo"}


def test_rbac_can_be_left_to_the_user(helm: Helm) -> None:
    kinds = {m["kind"] for m in chart.documents(helm.template({"rbac": {"create": False}}))}
    assert kinds == {"ServiceAccount", "Deployment", "PodDisruptionBudget", "Service"}
    rendered = chart.documents(helm.template({"rbac": {"aggregatedRoles": False}}))
    assert {m["metadata"]["name"] for m in rendered if m["kind"] == "ClusterRole"} == {"snyk-broker-operator"}


def test_extra_objects_are_rendered_with_tpl(helm: Helm) -> None:
    extra = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-extra"}}
    rendered = chart.documents(helm.template({"extraObjects": [extra]}))
    assert ("ConfigMap", "snyk-broker-operator-extra") in chart.by_kind_and_name(rendered)


def test_a_service_account_name_is_required_when_none_is_created(helm: Helm) -> None:
    result = helm.run("template", "x", str(CHART), values={"serviceAccount": {"create": False}}, check=False)
    assert result.returncode != 0
    assert "serviceAccount.name is required" in result.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
        ({"replicaCount": 2, "leaderElection": {"enabled": False}}, "at '/replicaCount': maximum: got 2, want 1"),
        ({"leaderElection": {"leaseDuration": "15s"}}, "at '/leaderElection/leaseDuration': got string, want number"),
        ({"podAntiAffinity": "required"}, "at '/podAntiAffinity'"),
        ({"watchNamespaces": "x"}, "at '/watchNamespaces': got string, want array"),
        ({"watchNamespaces": ["Team_A"]}, "at '/watchNamespaces/0'"),
        ({"metrics": {"port": "abc"}}, "at '/metrics/port': got string, want integer"),
        ({"metrics": {"enabled": "yes"}}, "at '/metrics/enabled': got string, want boolean"),
        ({"metrics": {"serviceMonitor": {"enabled": "yes"}}}, "at '/metrics/serviceMonitor/enabled'"),
        ({"metrics": {"serviceMonitor": {"interval": "30 seconds"}}}, "at '/metrics/serviceMonitor/interval'"),
        ({"metrics": {"serviceMonitor": {"honorLabels": False}}}, "additional properties 'honorLabels' not allowed"),
        ({"metrics": {"prometheusRule": {"labels": {"release": 1}}}}, "at '/metrics/prometheusRule/labels/release'"),
        ({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}}, "at '/metrics/enabled'"),
        ({"metrics": {"enabled": False, "prometheusRule": {"enabled": True}}}, "at '/metrics/enabled'"),
        ({"logLevel": "trace"}, "at '/logLevel'"),
        ({"logFormat": "xml"}, "at '/logFormat'"),
        ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
        ({"extraArgs": "--verbose"}, "at '/extraArgs': got string, want array"),
        ({"replicas": 1}, "additional properties 'replicas' not allowed"),
    ],
    ids=lambda value: str(value),
)
def test_the_schema_refuses_a_wrong_value_naming_the_field(helm: Helm, values: dict[str, Any], message: str) -> None:
    result = helm.run("template", "x", str(CHART), values=values, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr
