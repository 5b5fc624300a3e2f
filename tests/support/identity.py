"""The operator's own identity in the cluster tiers: the ServiceAccount and RBAC that `deploy/` installs, and a
kubeconfig holding a token for that ServiceAccount from the TokenRequest API. Never the admin's credentials.

The API server's audit log (hack/local-cluster writes one, at Metadata level, for this ServiceAccount only) then
shows every request the operator made under it, which is how tests/integration/test_rbac.py proves the role is no
wider than what the operator uses.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from support.cluster import REPO, Cluster

OPERATOR_NAMESPACE = "snyk-broker-operator"
SERVICE_ACCOUNT = "snyk-broker-operator"
USERNAME = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{SERVICE_ACCOUNT}"
# What the install creates besides the CRDs (already applied) and the operator's Deployment (the tests run the
# operator as a process instead).
IDENTITY_KINDS = frozenset({"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})


def install_manifests(cluster: Cluster) -> list[dict[str, Any]]:
    """The objects of `kubectl kustomize deploy/` that make up the operator's identity."""
    rendered = cluster.run_kubectl("kustomize", str(REPO / "deploy"))
    return [doc for doc in yaml.safe_load_all(rendered) if doc and doc.get("kind") in IDENTITY_KINDS]


def install_identity(cluster: Cluster) -> None:
    """Apply the install's ServiceAccount and RBAC, as `kubectl apply -k deploy/` would."""
    documents = "\n---\n".join(yaml.safe_dump(doc) for doc in install_manifests(cluster))
    cluster.run_kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=documents)


# The install's Role on Leases (leader election), in OPERATOR_NAMESPACE: where OperatorProcess keeps its Leases.
LEADER_ELECTION_ROLE = f"{SERVICE_ACCOUNT}-leader-election"


def cluster_role_rules(cluster: Cluster) -> list[dict[str, Any]]:
    """The rules the install's ClusterRole for the operator grants."""
    for doc in install_manifests(cluster):
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == SERVICE_ACCOUNT:
            return list(doc["rules"])
    raise AssertionError("deploy/ has no ClusterRole named snyk-broker-operator")


def operator_rules(cluster: Cluster) -> list[dict[str, Any]]:
    """Every rule the install grants the operator: its ClusterRole's, and its Role's on Leases."""
    for doc in install_manifests(cluster):
        if doc["kind"] == "Role" and doc["metadata"]["name"] == LEADER_ELECTION_ROLE:
            return cluster_role_rules(cluster) + list(doc["rules"])
    raise AssertionError(f"deploy/ has no Role named {LEADER_ELECTION_ROLE}")


def write_kubeconfig(
    cluster: Cluster,
    path: Path,
    *,
    account: str = SERVICE_ACCOUNT,
    namespace: str = OPERATOR_NAMESPACE,
    hours: int = 6,
) -> Path:
    """A kubeconfig for a ServiceAccount (by default the install's; a TokenRequest token), world-readable so that
    the operator can run as an unprivileged user; it holds no admin credential."""
    token = cluster.run_kubectl("create", "token", account, "-n", namespace, f"--duration={hours}h").strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    clusters = [_with_ca_file(entry, path.with_name(f"{path.stem}-ca.crt")) for entry in admin["clusters"][:1]]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": clusters[0]["name"], "user": account}}],
        "current-context": "operator",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o644)
    return path


def _with_ca_file(entry: dict[str, Any], ca_path: Path) -> dict[str, Any]:
    """The cluster entry with its CA as a file, as a pod has it (the mounted ServiceAccount `ca.crt`): inline
    `certificate-authority-data` makes the Kubernetes client write a temporary file, which the image must not do."""
    cluster = dict(entry["cluster"])
    data = cluster.pop("certificate-authority-data", None)
    if data is not None:
        ca_path.write_bytes(base64.b64decode(data))
        ca_path.chmod(0o644)
        cluster["certificate-authority"] = str(ca_path)
    return {**entry, "cluster": cluster}
