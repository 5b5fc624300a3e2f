"""No fight with GitOps: once converged, re-applying the user's manifests by server-side apply, as Argo CD
(field manager argocd-controller) and Flux (kustomize-controller) do, changes nothing the operator set and starts
nothing; `kubectl diff --server-side` shows nothing.

The manifests are the samples (deploy/samples/) as a user's Git holds them, applied by the GitOps tool's field manager
with the tracking labels the tool adds; the operator then provisions, shares and rolls the broker clients.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client

from support import snyk as world
from support.cluster import REPO
from support.env import GROUP, VERSION, Env
from support.rotation import wait_ready_and_current
from support.waiting import wait_for
from support.workloads import FINGERPRINT_ANNOTATION, apps

SAMPLES = REPO / "deploy" / "samples"
OPERATOR_MANAGER = "snyk-broker-operator"
# What each tool marks the objects it applies with: Argo CD's default label tracking, Flux's kustomize-controller.
TRACKING_PREFIXES = ("argocd.argoproj.io/", "kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")


@dataclass(frozen=True)
class Tool:
    name: str
    manager: str
    integration: str
    share_with: str
    labels: dict[str, str]


ARGO = Tool("argo", "argocd-controller", "github", world.ORG_TEAM_A, {"app.kubernetes.io/instance": "snyk-brokers"})
FLUX = Tool(
    "flux",
    "kustomize-controller",
    "gitlab",
    world.ORG_TEAM_B,
    {"kustomize.toolkit.fluxcd.io/name": "snyk-brokers", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
)


def sample(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / name).read_text()))


def manifests(env: Env, tool: Tool) -> list[dict[str, Any]]:
    """The samples as the user's Git would hold them for this test's world: a SnykConnection on the simulator, a
    provisioned and shared BrokerToken, and two broker-client Deployments reading its Secret."""
    secret = f"{tool.name}-broker-token"
    connection = sample("snykconnection.yaml")
    connection["metadata"]["name"] = f"{tool.name}-snyk"
    del connection["spec"]["region"]
    connection["spec"]["apiUrl"] = env.simulator.base_url.removesuffix("/v1")
    token = sample("brokertoken-github-provision.yaml")
    token["metadata"]["name"] = tool.name
    token["spec"].update(
        connectionRef={"name": f"{tool.name}-snyk"},
        orgId=world.ORG_PLATFORM,
        integration={"type": tool.integration},
        shareWith=[{"orgId": tool.share_with}],
        secret={"name": secret},
    )
    objects = [connection, token]
    for suffix in ("a", "b"):
        deployment = sample("broker-client-github.yaml")
        name = f"{tool.name}-broker-{suffix}"
        labels = {"app.kubernetes.io/name": "snyk-broker", "app.kubernetes.io/component": name}
        deployment["metadata"] = {"name": name, "labels": labels}
        deployment["spec"]["selector"] = {"matchLabels": labels}
        deployment["spec"]["template"]["metadata"] = {"labels": labels}
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for variable in container["env"]:
            if variable["name"] == "BROKER_TOKEN":
                variable["valueFrom"]["secretKeyRef"]["name"] = secret
        objects.append(deployment)
    for obj in objects:
        obj["metadata"]["namespace"] = env.namespace
        obj["metadata"].setdefault("labels", {}).update(tool.labels)
    return objects


def kubectl(env: Env, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env.cluster.kubectl), f"--kubeconfig={env.cluster.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def apply(env: Env, tool: Tool, documents: str, *, force: bool) -> str:
    args = ["apply", "--server-side", f"--field-manager={tool.manager}", "-f", "-"]
    result = kubectl(env, *args, *(["--force-conflicts"] if force else []), stdin=documents)
    assert result.returncode == 0, f"{tool.manager} apply (force={force}) failed: {result.stderr}"
    return result.stdout


def snapshot(env: Env) -> dict[str, str]:
    """kind/name -> resourceVersion of everything a re-apply or the operator could touch in the namespace."""
    core, workloads = env.core, apps(env)
    found: dict[str, str] = {}
    for plural in ("brokertokens", "snykconnections"):
        listed = env.objects.list_namespaced_custom_object(GROUP, VERSION, env.namespace, plural)
        for item in listed["items"]:  # type: ignore[index]
            found[f"{plural}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    listed_objects: list[Any] = [
        *workloads.list_namespaced_deployment(env.namespace).items,
        *workloads.list_namespaced_replica_set(env.namespace).items,
        *core.list_namespaced_secret(env.namespace).items,
    ]
    for obj in listed_objects:
        found[f"{type(obj).__name__}/{obj.metadata.name}"] = str(obj.metadata.resource_version)
    return found


def quiet_snapshot(env: Env) -> dict[str, str]:
    """A snapshot that stays the same for 3 s: the controllers (ours, Deployment, ReplicaSet) have settled."""
    previous: dict[str, str] = {}

    def settled() -> dict[str, str] | None:
        nonlocal previous
        current = snapshot(env)
        same = current == previous
        previous = current
        return current if same else None

    return wait_for(settled, timeout=60, interval=3, what="the namespace to settle")


def annotation_owners(deployment: client.V1Deployment) -> set[str]:
    """The field managers owning the token-fingerprint pod-template annotation."""
    owners = set()
    key = f"f:{FINGERPRINT_ANNOTATION}"
    for entry in deployment.metadata.managed_fields or []:
        fields = entry.fields_v1 or {}
        template = fields.get("f:spec", {}).get("f:template", {}).get("f:metadata", {}).get("f:annotations", {})
        if key in template:
            owners.add(str(entry.manager))
    return owners


def test_re_applying_the_users_manifests_as_argo_cd_and_flux_do_changes_nothing(env: Env) -> None:
    documents = {tool.name: yaml.safe_dump_all(manifests(env, tool), sort_keys=False) for tool in (ARGO, FLUX)}
    for tool in (ARGO, FLUX):  # the first sync: Argo CD (ServerSideApply=true) and Flux both force
        apply(env, tool, documents[tool.name], force=True)
    for tool in (ARGO, FLUX):
        wait_ready_and_current(env, tool.name, consumers={f"{tool.name}-broker-a", f"{tool.name}-broker-b"}, timeout=90)
    before = quiet_snapshot(env)
    replica_sets = sorted(name for name in before if name.startswith("V1ReplicaSet/"))
    assert len(replica_sets) == 8, replica_sets  # each Deployment: its first template, then the one with the token

    for tool in (ARGO, FLUX):
        for force in (False, True):  # Flux and Argo CD force ownership; a plain re-apply must not conflict either
            output = apply(env, tool, documents[tool.name], force=force)
            assert output.count("serverside-applied") == 4, output
        for extra in ([], ["--force-conflicts"]):
            args = ["diff", "--server-side", f"--field-manager={tool.manager}", *extra, "-f", "-"]
            diff = kubectl(env, *args, stdin=documents[tool.name])
            assert (diff.returncode, diff.stdout) == (0, ""), (
                f"kubectl diff for {tool.manager}: {diff.stdout}{diff.stderr}"
            )
    time.sleep(3)  # the operator's chance to react (wrongly) to the re-applies
    after = snapshot(env)
    assert after == before, {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()
                             if before.get(key) != after.get(key)}  # fmt: skip

    for tool in (ARGO, FLUX):
        status = env.broker_token(tool.name)["status"]
        for suffix in ("a", "b"):
            deployment = apps(env).read_namespaced_deployment(f"{tool.name}-broker-{suffix}", env.namespace)
            annotations = deployment.spec.template.metadata.annotations or {}
            assert annotations.get(FINGERPRINT_ANNOTATION) == status["tokenFingerprint"]
            assert annotation_owners(deployment) == {OPERATOR_MANAGER}
        # The Secrets the operator made are its own: no GitOps tool's tracking marks, so no tool prunes or diffs them.
        for name in (f"{tool.name}-broker-token", f"{tool.name}-snykbroker-custody"):
            secret = env.secret(name)
            assert secret is not None, name
            marks = {**(secret.metadata.labels or {}), **(secret.metadata.annotations or {})}
            tracked = [k for k in marks if k == "app.kubernetes.io/instance" or k.startswith(TRACKING_PREFIXES)]
            assert not tracked, f"Secret {name} carries {tracked}"
            assert [ref.kind for ref in secret.metadata.owner_references or []] == ["BrokerToken"]

    # The other direction: a real change in Git (more replicas) goes through, and the operator's annotation survives
    # it, so the new pods run the current token and no rollout (no new ReplicaSet) starts.
    changed = manifests(env, ARGO)
    changed[2]["spec"]["replicas"] = 3
    output = apply(env, ARGO, yaml.safe_dump_all(changed, sort_keys=False), force=False)
    assert "deployment.apps/argo-broker-a serverside-applied" in output
    deployment = apps(env).read_namespaced_deployment("argo-broker-a", env.namespace)
    assert deployment.spec.replicas == 3
    fingerprint = env.broker_token("argo")["status"]["tokenFingerprint"]
    assert (deployment.spec.template.metadata.annotations or {}).get(FINGERPRINT_ANNOTATION) == fingerprint
    assert annotation_owners(deployment) == {OPERATOR_MANAGER}
    listed = apps(env).list_namespaced_replica_set(env.namespace).items
    assert sorted(str(rs.metadata.name) for rs in listed) == [name.split("/", 1)[1] for name in replica_sets]
