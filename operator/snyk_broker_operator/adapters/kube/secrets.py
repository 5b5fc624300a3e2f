"""Secrets over the Kubernetes API: read, create, server-side apply, delete, and orphan (drop our owner reference).

Bodies are plain dicts built by `reconcile.manifests`; nothing here looks inside `data`. Errors are the adapter's
own (:mod:`.errors`).
"""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client

from snyk_broker_operator.adapters.kube.apply import FIELD_MANAGER, server_side_apply
from snyk_broker_operator.adapters.kube.calls import call, call_json
from snyk_broker_operator.adapters.kube.errors import Conflict, NotFound

# Each attempt re-reads the Secret; a writer that wins this many races in a row is a bug worth an error.
ORPHAN_ATTEMPTS = 5


class SecretStore:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            secret = await call_json(self._core.read_namespaced_secret, name, namespace)
        except NotFound:
            return None
        return dict(secret)

    async def create(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        # The client accepts a plain dict body as well as its model classes; its annotations only name the model.
        await call_json(self._core.create_namespaced_secret, namespace, cast(Any, body), field_manager=FIELD_MANAGER)

    async def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply as `snyk-broker-operator`."""
        await server_side_apply(self._core.patch_namespaced_secret, body)

    async def delete(self, namespace: str, name: str) -> None:
        """Delete; a Secret that is already gone is not an error."""
        try:
            await call(self._core.delete_namespaced_secret, name, namespace)
        except NotFound:
            return

    async def orphan(self, namespace: str, name: str, owner_uid: str) -> None:
        """Drop the owner reference to `owner_uid` so the garbage collector keeps the Secret.

        Idempotent under concurrency: the patch carries the resourceVersion it was computed from, and when another
        writer got there first (409) the Secret is read again and the patch recomputed, so two clean-ups of one
        BrokerToken at once both succeed and the second finds nothing left to drop."""
        for attempt in range(ORPHAN_ATTEMPTS):
            try:
                secret = await call(self._core.read_namespaced_secret, name, namespace)
            except NotFound:
                return
            metadata = cast(client.V1ObjectMeta, secret.metadata)
            refs = metadata.owner_references or []
            kept = [self._api.sanitize_for_serialization(r) for r in refs if r.uid != owner_uid]
            if len(kept) == len(refs):
                return
            patch = {"metadata": {"ownerReferences": kept or None, "resourceVersion": metadata.resource_version}}
            try:
                # A JSON merge patch replaces the list; a strategic merge patch would merge it by uid and keep ours.
                await call(
                    self._core.patch_namespaced_secret,
                    name,
                    namespace,
                    patch,
                    _content_type="application/merge-patch+json",
                )
                return
            except NotFound:
                return
            except Conflict:
                if attempt == ORPHAN_ATTEMPTS - 1:
                    raise
