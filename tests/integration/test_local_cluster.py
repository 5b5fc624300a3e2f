"""The local control plane is a real Kubernetes: health, kubectl, Deployments on kwok nodes, garbage collection,
RBAC and CRDs with a status subresource all behave as they do in a production cluster, and its etcd and API server
can be restarted under a test without losing the cluster's objects."""

from __future__ import annotations

import json
import secrets
import subprocess
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.cluster import LOCAL_CLUSTER, Cluster
from support.waiting import wait_for


def test_readyz_answers_ok_through_the_kubeconfig(kube_api: client.ApiClient) -> None:
    method, url, headers, body, _ = kube_api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
    response = kube_api.call_api(method, url, header_params=headers, body=body)
    assert response.status == 200
    assert response.read().decode() == "ok"


def test_the_built_kubectl_works_with_the_kubeconfig(kube_cluster: Cluster) -> None:
    assert kube_cluster.run_kubectl("get", "--raw", "/readyz") == "ok"
    version = json.loads(kube_cluster.run_kubectl("version", "-o", "json"))
    assert version["serverVersion"]["major"] == "1"
    if kube_cluster.local:
        assert version["serverVersion"]["gitVersion"] == "v1.37.2"
        assert version["clientVersion"]["gitVersion"] == "v1.37.2"


def _deployment(name: str, replicas: int) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="registry.invalid/app:1")]),
            ),
        ),
    )


def _replica_sets(apps: client.AppsV1Api, namespace: str, app: str) -> list[client.V1ReplicaSet]:
    return list(apps.list_namespaced_replica_set(namespace, label_selector=f"app={app}").items)


def test_a_two_replica_deployment_becomes_available_and_rolls_on_a_template_change(
    kube_api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, _deployment("web", 2))

    def available() -> client.V1Deployment | None:
        d = apps.read_namespaced_deployment("web", namespace)
        return d if (d.status.available_replicas or 0) == 2 else None

    wait_for(available, timeout=60, what="2/2 available replicas")
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    assert all(p.status.phase == "Running" for p in pods)
    assert all(c.status == "True" for p in pods for c in p.status.conditions if c.type == "Ready")
    assert all(p.spec.node_name for p in pods), "the scheduler placed every pod on a node"
    (first_rs,) = _replica_sets(apps, namespace, "web")

    patch = {"spec": {"template": {"metadata": {"annotations": {"example.test/rollme": "1"}}}}}
    apps.patch_namespaced_deployment("web", namespace, patch)

    def rolled() -> list[client.V1ReplicaSet] | None:
        d = apps.read_namespaced_deployment("web", namespace)
        sets = _replica_sets(apps, namespace, "web")
        done = (
            d.status.observed_generation == d.metadata.generation
            and d.status.updated_replicas == 2
            and d.status.available_replicas == 2
            and (d.status.replicas or 0) == 2
            and len(sets) == 2
        )
        return sets if done else None

    sets = wait_for(rolled, timeout=60, what="a rollout to a new ReplicaSet")
    by_name = {rs.metadata.name: rs for rs in sets}
    assert by_name[first_rs.metadata.name].spec.replicas == 0
    (new_rs,) = [rs for name, rs in by_name.items() if name != first_rs.metadata.name]
    assert new_rs.spec.replicas == 2
    assert (new_rs.spec.template.metadata.annotations or {}).get("example.test/rollme") == "1"


def test_garbage_collection_deletes_a_secret_whose_owner_is_deleted(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"), data={"a": "b"})
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid, block_owner_deletion=False
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="owned", owner_references=[reference]), data={}),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def secret_gone() -> bool:
        try:
            core.read_namespaced_secret("owned", namespace)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    wait_for(secret_gone, timeout=30, what="the garbage collector to delete the owned Secret")


def _client_for_service_account(kube_api: client.ApiClient, namespace: str, name: str) -> client.ApiClient:
    core = client.CoreV1Api(kube_api)
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token(name, namespace, request).status.token
    configuration = client.Configuration()
    configuration.host = kube_api.configuration.host
    configuration.ssl_ca_cert = kube_api.configuration.ssl_ca_cert
    configuration.verify_ssl = kube_api.configuration.verify_ssl
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def test_rbac_is_enforced_for_service_accounts(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sa")))
    sa_api = _client_for_service_account(kube_api, namespace, "sa")
    try:
        with pytest.raises(ApiException) as refused:
            client.CoreV1Api(sa_api).list_namespaced_secret(namespace)
        assert refused.value.status == 403

        rbac.create_namespaced_role(
            namespace,
            client.V1Role(
                metadata=client.V1ObjectMeta(name="read-secrets"),
                rules=[client.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["list"])],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="read-secrets"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="read-secrets"),
                subjects=[client.RbacV1Subject(kind="ServiceAccount", name="sa", namespace=namespace)],
            ),
        )

        def allowed() -> bool:
            try:
                client.CoreV1Api(sa_api).list_namespaced_secret(namespace)
            except ApiException as error:
                if error.status == 403:
                    return False
                raise
            return True

        wait_for(allowed, timeout=10, what="the Role to grant listing Secrets")
    finally:
        sa_api.close()


def test_a_crd_becomes_established_and_a_custom_resource_round_trips_with_status(
    kube_api: client.ApiClient, namespace: str
) -> None:
    extensions = client.ApiextensionsV1Api(kube_api)
    suffix = secrets.token_hex(3)
    group = f"g{suffix}.example.test"
    plural = "widgets"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                            },
                        }
                    },
                }
            ],
        },
    }
    # The client serializes a dict body as it is; its types ask for the model.
    extensions.create_custom_resource_definition(cast(Any, crd))
    try:

        def established() -> bool:
            got = extensions.read_custom_resource_definition(f"{plural}.{group}")
            return any(c.type == "Established" and c.status == "True" for c in got.status.conditions or [])

        wait_for(established, timeout=30, what="the CRD to be Established")
        objects = client.CustomObjectsApi(kube_api)

        def create() -> dict[str, object] | None:
            try:
                body = {
                    "apiVersion": f"{group}/v1",
                    "kind": "Widget",
                    "metadata": {"name": "w"},
                    "spec": {"size": 3},
                }
                answer = objects.create_namespaced_custom_object(group, "v1", namespace, plural, body)
                return dict(cast(dict[str, object], answer))  # typed `object` by the client; the JSON body
            except ApiException as error:
                if error.status == 404:  # discovery of a brand-new CRD can lag a moment behind Established
                    return None
                raise

        created = wait_for(create, timeout=10, what="the custom resource to be accepted")
        assert "status" not in created
        objects.patch_namespaced_custom_object_status(group, "v1", namespace, plural, "w", {"status": {"phase": "Ok"}})
        # A write to the main resource ignores status, and a status write ignores spec: the subresource is real.
        objects.patch_namespaced_custom_object(group, "v1", namespace, plural, "w", {"status": {"phase": "Nope"}})
        got = cast(dict[str, object], objects.get_namespaced_custom_object(group, "v1", namespace, plural, "w"))
        assert got["spec"] == {"size": 3}
        assert got["status"] == {"phase": "Ok"}
    finally:
        extensions.delete_custom_resource_definition(f"{plural}.{group}")


def test_up_again_while_running_is_safe_and_changes_nothing(kube_cluster: Cluster) -> None:
    if not kube_cluster.local:
        pytest.skip("only the project's own local cluster is managed by hack/local-cluster")
    before = kube_cluster.kubeconfig.read_text()
    result = subprocess.run([str(LOCAL_CLUSTER), "up"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(kube_cluster.kubeconfig)
    assert "already up" in result.stderr
    assert kube_cluster.kubeconfig.read_text() == before
    assert kube_cluster.run_kubectl("get", "--raw", "/readyz") == "ok"


def test_objects_survive_killing_and_restarting_etcd_then_the_api_server(
    kube_cluster: Cluster, kube_api: client.ApiClient, namespace: str
) -> None:
    if not kube_cluster.local:
        pytest.skip("only the project's own local cluster is managed by hack/local-cluster")
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="survivor"), data={"kept": "yes"})
    )
    # SIGKILL: the harsher case (nothing is flushed on the way down), and the fast one: a graceful etcd stop waits
    # about 7s for the API server's watch streams to end.
    kube_cluster.restart_component("etcd", kill=True)
    kube_cluster.restart_component("kube-apiserver", kill=True)

    assert kube_cluster.run_kubectl("get", "--raw", "/readyz") == "ok"
    assert core.read_namespaced_config_map("survivor", namespace).data == {"kept": "yes"}
    core.patch_namespaced_config_map("survivor", namespace, {"data": {"kept": "yes", "written": "after"}})
    assert core.read_namespaced_config_map("survivor", namespace).data == {"kept": "yes", "written": "after"}
