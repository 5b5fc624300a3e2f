"""The chart on the local cluster: a server-side dry-run of what it renders (the only check that runs the CRDs' CEL
rules), then helm install, upgrade and uninstall of real releases, and the namespace-scoped install's permissions
used by the real operator.

The pods run on kwok's fake nodes, so a pod's Running is faked: what is real is the API server's acceptance of every
object, the Deployment and ReplicaSet controllers (availability, a new ReplicaSet per template), and RBAC. The
local control plane runs no EndpointSlice controller, so the metrics Service's endpoints are resolved here as that
controller would: its selector against the running pods, its named targetPort against their container ports.
Each test has its own namespace and release (tests/conftest.py, conftest.py); `helm uninstall` removes the
release's ClusterRoles and bindings.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from snyk_broker_operator.simulator import SimulatorThread
from support import chart, identity
from support import snyk as world
from support.chart import CHART, Helm
from support.cluster import REPO, Cluster
from support.env import Env, assert_no_secret_leaked, broker_token, release_objects
from support.operator import OperatorProcess
from support.rotation import request_rotation, wait_ready_and_current, wait_rotation_complete
from support.workloads import broker_client, create_deployment

SAMPLES = sorted((REPO / "deploy" / "samples").glob("*.yaml"))  # not demo/: it brings a namespace of its own
WAIT = ("--wait", "--timeout", "90s")


def sample_objects() -> list[chart.Manifest]:
    return [doc for path in SAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc]


def get_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.run_kubectl("get", *args, "-o", "json"))


def install(helm: Helm, release: str, namespace: str, *extra: str) -> None:
    helm.run("install", release, str(CHART), "--namespace", namespace, *WAIT, *extra)


def available(deployment: dict[str, Any]) -> bool:
    conditions = deployment.get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


@pytest.mark.parametrize("scope", ["all-namespaces", "namespace-scoped"])
def test_a_server_side_dry_run_accepts_the_rendered_chart(
    cluster_helm: Helm, kube_cluster: Cluster, namespace: str, release: str, scope: str
) -> None:
    values: dict[str, Any] = {"extraObjects": sample_objects()}
    if scope == "namespace-scoped":
        values["watchNamespaces"] = [namespace]
    rendered = cluster_helm.template(values, release=release, namespace=namespace, include_crds=True)
    output = kube_cluster.run_kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=rendered)
    applied = [line for line in output.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(chart.documents(rendered)), output


def test_a_server_side_dry_run_runs_the_crds_cel_rules(
    cluster_helm: Helm, kube_cluster: Cluster, namespace: str, release: str
) -> None:
    (token,) = [doc for doc in sample_objects() if doc["kind"] == "BrokerToken" and "rotation" in doc["spec"]]
    token["spec"]["rotation"]["every"] = "5s"  # valid for JSON Schema, refused by a CEL rule
    rendered = cluster_helm.template({"extraObjects": [token]}, release=release, namespace=namespace)
    kubectl = [str(kube_cluster.kubectl), f"--kubeconfig={kube_cluster.kubeconfig}"]
    apply = ["apply", "--dry-run=server", "-n", namespace, "-f", "-"]
    result = subprocess.run([*kubectl, *apply], input=rendered, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "spec.rotation.every must be at least 10s" in result.stderr


def test_helm_install_runs_the_operator_as_configured(
    cluster_helm: Helm, kube_cluster: Cluster, namespace: str, release: str
) -> None:
    install(cluster_helm, release, namespace)  # metrics are on by default
    name = f"{release}-snyk-broker-operator"
    deployment = get_json(kube_cluster, "deployment", name, "-n", namespace)
    assert available(deployment)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == name
    (container,) = pod["containers"]
    assert container["args"][:2] == ["run", "--all-namespaces"]
    assert container["args"][container["args"].index("--metrics-address") + 1] == "0.0.0.0:9090"
    pods = get_json(kube_cluster, "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}")["items"]
    assert [p["spec"]["serviceAccountName"] for p in pods] == [name, name]
    # The metrics Service selects exactly the two running operator pods, on their container port named metrics.
    service = get_json(kube_cluster, "service", f"{name}-metrics", "-n", namespace)
    selector = ",".join(f"{key}={value}" for key, value in sorted(service["spec"]["selector"].items()))
    selected = get_json(kube_cluster, "pods", "-n", namespace, "-l", selector)["items"]
    assert sorted(p["metadata"]["name"] for p in selected) == sorted(p["metadata"]["name"] for p in pods)
    assert all(p["status"]["phase"] == "Running" for p in selected)
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("metrics", 9090, "metrics")
    for selected_pod in selected:
        (running,) = selected_pod["spec"]["containers"]
        named = {p["name"]: p["containerPort"] for p in running.get("ports", [])}
        assert named.get("metrics") == 9090, selected_pod["metadata"]["name"]
    role = get_json(kube_cluster, "clusterrole", name)
    binding = get_json(kube_cluster, "clusterrolebinding", name)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    assert role["rules"]
    auth = kube_cluster.run_kubectl(
        "auth",
        "can-i",
        "patch",
        "brokertokens.snykbroker.dev/status",
        "-A",
        f"--as=system:serviceaccount:{namespace}:{name}",
    )
    assert auth.strip() == "yes"


def test_helm_upgrade_with_a_changed_value_rolls_the_operator(
    cluster_helm: Helm, kube_cluster: Cluster, namespace: str, release: str
) -> None:
    install(cluster_helm, release, namespace)
    name = f"{release}-snyk-broker-operator"
    before = get_json(kube_cluster, "deployment", name, "-n", namespace)
    cluster_helm.run(
        "upgrade", release, str(CHART), "--namespace", namespace, *WAIT, "--reuse-values", "--set", "logLevel=debug"
    )
    after = get_json(kube_cluster, "deployment", name, "-n", namespace)
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    assert after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert available(after) and after["status"]["updatedReplicas"] == 2
    assert after["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "--verbose"
    replica_sets = get_json(kube_cluster, "replicasets", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}")
    by_revision = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in replica_sets["items"]
    }
    assert sorted(by_revision) == ["1", "2"], "the changed pod template gets a new ReplicaSet"
    assert by_revision["1"]["spec"]["replicas"] == 0
    assert "--verbose" in by_revision["2"]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_helm_uninstall_keeps_the_crds_the_custom_resources_and_the_operators_secrets(
    cluster_helm: Helm, kube_cluster: Cluster, namespace: str, release: str
) -> None:
    install(cluster_helm, release, namespace)
    name = f"{release}-snyk-broker-operator"
    manifest = chart.documents(cluster_helm.run("get", "manifest", release, "--namespace", namespace).stdout)
    assert "CustomResourceDefinition" not in {doc["kind"] for doc in manifest}, "Helm deletes only its manifest"
    written = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "github-broker-token",
            # As the operator labels the Secrets it writes.
            "labels": {"app.kubernetes.io/managed-by": "snyk-broker-operator", "snykbroker.dev/broker-token": "x"},
        },
        "stringData": {"BROKER_TOKEN": "not-a-real-token"},
    }
    (token,) = [doc for doc in sample_objects() if doc["kind"] == "BrokerToken" and doc["metadata"]["name"] == "github"]
    kube_cluster.run_kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all([written, token]))

    cluster_helm.run("uninstall", release, "--namespace", namespace, "--wait")

    gone = [
        ("deployment", name, "-n", namespace),
        ("serviceaccount", name, "-n", namespace),
        ("clusterrole", name),
        ("clusterrolebinding", name),
        ("clusterrole", f"{name}-edit"),
        ("clusterrole", f"{name}-view"),
    ]
    for args in gone:
        assert kube_cluster.run_kubectl("get", *args, "--ignore-not-found", "-o", "name").strip() == "", args
    for crd in ("brokertokens", "snykconnections", "clustersnykconnections"):
        kube_cluster.run_kubectl("get", "crd", f"{crd}.snykbroker.dev")
    kube_cluster.run_kubectl("get", "brokertoken", "github", "-n", namespace)
    kept = get_json(kube_cluster, "secret", "github-broker-token", "-n", namespace)
    assert kept["metadata"]["labels"]["snykbroker.dev/broker-token"] == "x"


@pytest.fixture
def watched(kube_cluster: Cluster, namespace: str) -> Iterator[str]:
    """A second namespace, watched by a namespace-scoped release installed in `namespace`."""
    name = f"{namespace[:55]}-w"
    kube_cluster.run_kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kube_cluster.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_a_namespace_scoped_install_gives_the_operator_what_it_needs(
    cluster_helm: Helm,
    kube_cluster: Cluster,
    kube_api: client.ApiClient,
    namespace: str,
    watched: str,
    release: str,
    tmp_path: Path,
) -> None:
    """Under the release's namespace-scoped identity (Roles in the watched namespace only), the operator provisions
    a token, rolls its consumer and completes a Bridge rotation there, and never touches another namespace."""
    install(cluster_helm, release, namespace, "--set", f"watchNamespaces={{{watched}}}")
    account = f"{release}-snyk-broker-operator"
    kubeconfig = identity.write_kubeconfig(
        kube_cluster, tmp_path / "operator.kubeconfig", account=account, namespace=namespace
    )
    unwatched_probe = {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "SnykConnection",
        "metadata": {"name": "probe"},
        "spec": {"apiUrl": "http://127.0.0.1:9", "apiTokenSecretRef": {"name": "missing"}},
    }
    kube_cluster.run_kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(unwatched_probe))
    with SimulatorThread(world.seed(), random_seed=7) as simulator:
        operator = OperatorProcess(
            kube_cluster,
            namespaces=[watched],
            operator_namespace=namespace,
            log_path=tmp_path / "operator.log",
            kubeconfig=kubeconfig,
            # The release's Role on Leases is in the release namespace.
            lease_namespace=namespace,
        )
        env = Env(watched, kube_api, kube_cluster, simulator, world.SimulatorAdmin(simulator.admin_url), operator)
        env.create_secret("snyk-api-token", {"apiToken": world.GROUP_KEY})
        api_url = simulator.base_url.removesuffix("/v1")
        connection = {"apiUrl": api_url, "apiTokenSecretRef": {"name": "snyk-api-token"}}
        env.create("snykconnections", {**unwatched_probe, "metadata": {"name": "snyk"}, "spec": connection})
        create_deployment(env, broker_client("scoped-broker", replicas=1))
        env.create("brokertokens", broker_token("broker", secret={"name": "broker"}))
        operator.start()
        try:
            before = wait_ready_and_current(env, "broker", consumers={"scoped-broker"}, timeout=60)
            request_rotation(env, "broker", "2030-01-01T00:00:00Z")
            wait_rotation_complete(
                env, "broker", revision=before["revision"] + 1, consumers={"scoped-broker"}, timeout=90
            )
            assert_no_secret_leaked(env)
        finally:
            release_objects(env)
            operator.stop()
            env.sim.close()
    text = operator.log_text()
    assert "Forbidden" not in text and "Traceback" not in text, text[-3000:]
    unwatched = get_json(kube_cluster, "snykconnection", "probe", "-n", namespace)
    assert "status" not in unwatched, "the operator must not touch a namespace it does not watch"
