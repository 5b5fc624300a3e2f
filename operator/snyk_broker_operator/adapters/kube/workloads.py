"""Deployments and StatefulSets over the Kubernetes API: list a namespace's, and set one pod-template annotation.

The annotation is written by server-side apply as field manager `snyk-broker-operator`, in an apply configuration
that holds nothing else, so the operator owns exactly that one field and Argo CD or Flux keep owning the rest.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from snyk_broker_operator.adapters.kube.apply import server_side_apply
from snyk_broker_operator.adapters.kube.calls import call, call_json
from snyk_broker_operator.adapters.kube.errors import NotFound


class Workloads:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._apps = client.AppsV1Api(api)

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        found = []
        for kind, list_kind in (
            ("Deployment", self._apps.list_namespaced_deployment),
            ("StatefulSet", self._apps.list_namespaced_stateful_set),
        ):
            listed = await call_json(list_kind, namespace)
            for item in listed.get("items") or []:
                item["kind"] = kind  # list items come without their kind
                found.append(item)
        return found

    async def set_template_annotation(self, *, kind: str, namespace: str, name: str, key: str, value: str) -> None:
        body = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"annotations": {key: value}}}},
        }
        patch = (
            self._apps.patch_namespaced_deployment if kind == "Deployment" else self._apps.patch_namespaced_stateful_set
        )
        await server_side_apply(patch, body)

    async def apply_deployment(self, body: dict[str, Any]) -> None:
        """Create or update a Deployment the operator owns (a rotation bridge), by server-side apply."""
        await server_side_apply(self._apps.patch_namespaced_deployment, body)

    async def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete; a Deployment that is already gone is not an error."""
        try:
            await call(self._apps.delete_namespaced_deployment, name, namespace, propagation_policy="Background")
        except NotFound:
            return
