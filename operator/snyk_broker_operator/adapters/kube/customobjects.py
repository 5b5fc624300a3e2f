"""The operator's own custom resources over the Kubernetes API: read or list them, write a status, annotate one.

`namespace=None` means a cluster-scoped object (ClusterSnykConnection). Errors are the adapter's own (:mod:`.errors`).
"""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client

from snyk_broker_operator.adapters.kube.calls import call
from snyk_broker_operator.adapters.kube.errors import NotFound
from snyk_broker_operator.models import GROUP, VERSION


class CustomObjects:
    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)

    async def read(self, *, plural: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        try:
            if namespace is None:
                found = await call(self._objects.get_cluster_custom_object, GROUP, VERSION, plural, name)
            else:
                found = await call(self._objects.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name)
        except NotFound:
            return None
        return cast(dict[str, Any], found)

    async def list(self, *, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of this kind in the namespace, or in all namespaces (and cluster-scoped kinds) for None."""
        if namespace is None:
            found = await call(self._objects.list_cluster_custom_object, GROUP, VERSION, plural)
        else:
            found = await call(self._objects.list_namespaced_custom_object, GROUP, VERSION, namespace, plural)
        return [dict(item) for item in cast(dict[str, Any], found).get("items") or []]

    async def patch_status(self, *, plural: str, name: str, namespace: str | None, status: dict[str, Any]) -> None:
        """Replace the whole status in one merge patch (lists such as conditions are replaced, not merged)."""
        body = {"status": status}
        if namespace is None:
            await call(self._objects.patch_cluster_custom_object_status, GROUP, VERSION, plural, name, body)
        else:
            await call(
                self._objects.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, plural, name, body
            )

    async def patch_metadata(
        self, *, plural: str, name: str, namespace: str | None, annotations: dict[str, str]
    ) -> None:
        """Merge-patch annotations onto one of our objects (never its spec)."""
        body = {"metadata": {"annotations": annotations}}
        if namespace is None:
            await call(self._objects.patch_cluster_custom_object, GROUP, VERSION, plural, name, body)
        else:
            await call(self._objects.patch_namespaced_custom_object, GROUP, VERSION, namespace, plural, name, body)
