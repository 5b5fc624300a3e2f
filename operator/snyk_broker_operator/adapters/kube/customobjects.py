"""The operator's own custom resources over the Kubernetes API: read one, and write its status subresource."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

GROUP = "snykbroker.dev"
VERSION = "v1alpha1"


class CustomObjects:
    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)

    async def read(self, *, plural: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        def call() -> dict[str, Any] | None:
            try:
                if namespace is None:
                    return cast(dict[str, Any], self._objects.get_cluster_custom_object(GROUP, VERSION, plural, name))
                return cast(
                    dict[str, Any], self._objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                raise

        return await asyncio.to_thread(call)

    async def patch_status(self, *, plural: str, name: str, namespace: str | None, status: dict[str, Any]) -> None:
        """Replace the whole status in one merge patch (lists such as conditions are replaced, not merged)."""
        body = {"status": status}

        def call() -> None:
            if namespace is None:
                self._objects.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, body)
            else:
                self._objects.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name, body)

        await asyncio.to_thread(call)

    async def patch_metadata(
        self, *, plural: str, name: str, namespace: str | None, annotations: dict[str, str]
    ) -> None:
        """Merge-patch annotations onto one of our objects (never its spec)."""
        body = {"metadata": {"annotations": annotations}}

        def call() -> None:
            if namespace is None:
                self._objects.patch_cluster_custom_object(GROUP, VERSION, plural, name, body)
            else:
                self._objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body)

        await asyncio.to_thread(call)
