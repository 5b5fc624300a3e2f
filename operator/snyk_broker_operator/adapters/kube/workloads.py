"""Deployments and StatefulSets over the Kubernetes API: list a namespace's, and set one pod-template annotation.

The annotation is written by server-side apply as field manager `snyk-broker-operator`, in an apply configuration
that holds nothing else, so the operator owns exactly that one field and Argo CD or Flux keep owning the rest.
With a cache (:func:`workload_cache`), a namespace's workloads are read from it, kept current by the watch and by
every write made here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from kubernetes import client

from snyk_broker_operator.adapters.kube.apply import server_side_apply
from snyk_broker_operator.adapters.kube.cache import Listing, NamespacedCache, version
from snyk_broker_operator.adapters.kube.calls import call_json
from snyk_broker_operator.adapters.kube.errors import NotFound

DEPLOYMENT, STATEFUL_SET = "Deployment", "StatefulSet"


def kind_and_name(body: Mapping[str, Any]) -> str:
    """A workload's key in the cache: a Deployment and a StatefulSet may share a name."""
    return f"{body.get('kind', DEPLOYMENT)}/{(body.get('metadata') or {}).get('name', '')}"


async def _list(apps: client.AppsV1Api, namespace: str) -> Listing:
    """A namespace's Deployments and StatefulSets, each with its kind; the older of the two lists' versions."""
    found, versions = [], []
    for kind, list_kind in (
        (DEPLOYMENT, apps.list_namespaced_deployment),
        (STATEFUL_SET, apps.list_namespaced_stateful_set),
    ):
        listed = await call_json(list_kind, namespace)
        versions.append(str((listed.get("metadata") or {}).get("resourceVersion") or ""))
        for item in listed.get("items") or []:
            item["kind"] = kind  # list items come without their kind
            found.append(item)
    return found, min(versions, key=version)


def workload_cache(api: client.ApiClient, *, refresh_seconds: float) -> NamespacedCache:
    """A cache of the Deployments and StatefulSets, per namespace."""
    apps = client.AppsV1Api(api)
    return NamespacedCache(lambda namespace: _list(apps, namespace), refresh_seconds=refresh_seconds, key=kind_and_name)


class Workloads:
    def __init__(self, api: client.ApiClient, *, cache: NamespacedCache | None = None) -> None:
        self._api = api
        self._apps = client.AppsV1Api(api)
        self._cache = cache

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        if self._cache is not None:
            return await self._cache.items(namespace)
        found, _ = await _list(self._apps, namespace)
        return found

    def _wrote(self, answer: Any) -> None:
        if self._cache is not None and isinstance(answer, dict):
            self._cache.wrote(answer)

    async def set_template_annotation(self, *, kind: str, namespace: str, name: str, key: str, value: str) -> None:
        body = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"annotations": {key: value}}}},
        }
        patch = (
            self._apps.patch_namespaced_deployment if kind == DEPLOYMENT else self._apps.patch_namespaced_stateful_set
        )
        self._wrote(await server_side_apply(patch, body))

    async def apply_deployment(self, body: dict[str, Any]) -> None:
        """Create or update a Deployment the operator owns (a rotation bridge), by server-side apply."""
        self._wrote(await server_side_apply(self._apps.patch_namespaced_deployment, body))

    async def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete; a Deployment that is already gone is not an error."""
        with contextlib.suppress(NotFound):
            await call_json(self._apps.delete_namespaced_deployment, name, namespace, propagation_policy="Background")
        if self._cache is not None:
            self._cache.deleted(namespace, f"{DEPLOYMENT}/{name}")
