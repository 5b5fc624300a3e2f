"""Secrets over the Kubernetes API: read, create, server-side apply, delete, and orphan (drop our owner reference).

Bodies are plain dicts built by `reconcile.manifests`; nothing here looks inside `data`. Errors are the adapter's
own (:mod:`.errors`). With a cache (:func:`labelled_cache`), Secrets that carry the BrokerToken label are read from
it, kept current by the watch and by every write made here; any other Secret is still read from the API server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client

from snyk_broker_operator.adapters.kube.apply import FIELD_MANAGER, server_side_apply
from snyk_broker_operator.adapters.kube.cache import Listing, NamespacedCache
from snyk_broker_operator.adapters.kube.calls import call_json
from snyk_broker_operator.adapters.kube.errors import Conflict, NotFound
from snyk_broker_operator.models import BROKER_TOKEN_LABEL

# Each attempt re-reads the Secret; a writer that wins this many races in a row is a bug worth an error.
ORPHAN_ATTEMPTS = 5


def is_labelled(body: Mapping[str, Any]) -> bool:
    """Whether the Secret carries the label the operator's Secret watch selects on."""
    return BROKER_TOKEN_LABEL in ((body.get("metadata") or {}).get("labels") or {})


def labelled_cache(api: client.ApiClient, *, refresh_seconds: float) -> NamespacedCache:
    """A cache of the Secrets that carry the BrokerToken label, per namespace (what the operator's watch sees)."""
    core = client.CoreV1Api(api)

    async def list_labelled(namespace: str) -> Listing:
        listed = await call_json(core.list_namespaced_secret, namespace, label_selector=BROKER_TOKEN_LABEL)
        return list(listed.get("items") or []), str((listed.get("metadata") or {}).get("resourceVersion") or "")

    return NamespacedCache(list_labelled, refresh_seconds=refresh_seconds, selects=is_labelled)


class SecretStore:
    def __init__(self, api: client.ApiClient, *, cache: NamespacedCache | None = None) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)
        self._cache = cache

    async def read(self, namespace: str, name: str, *, labelled: bool = False) -> dict[str, Any] | None:
        """The Secret, or None when there is none. `labelled`: the caller knows that this Secret carries the label
        whenever it exists, so that the cache's answer is final (no read from the API server when it has none)."""
        if self._cache is not None:
            cached = await self._cache.get(namespace, name)
            if cached is not None or labelled:
                return cached
        try:
            secret = await call_json(self._core.read_namespaced_secret, name, namespace)
        except NotFound:
            return None
        return dict(secret)

    def _wrote(self, answer: Any) -> None:
        if self._cache is not None and isinstance(answer, dict):
            self._cache.wrote(answer)

    async def create(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        # The client accepts a plain dict body as well as its model classes; its annotations only name the model.
        self._wrote(
            await call_json(
                self._core.create_namespaced_secret, namespace, cast(Any, body), field_manager=FIELD_MANAGER
            )
        )

    async def apply(self, body: dict[str, Any]) -> None:
        """Server-side apply as `snyk-broker-operator`."""
        self._wrote(await server_side_apply(self._core.patch_namespaced_secret, body))

    async def delete(self, namespace: str, name: str) -> None:
        """Delete; a Secret that is already gone is not an error."""
        with contextlib.suppress(NotFound):
            await call_json(self._core.delete_namespaced_secret, name, namespace)
        if self._cache is not None:
            self._cache.deleted(namespace, name)

    async def orphan(self, namespace: str, name: str, owner_uid: str) -> None:
        """Drop the owner reference to `owner_uid` so the garbage collector keeps the Secret.

        Idempotent under concurrency: the patch carries the resourceVersion it was computed from, and when another
        writer got there first (409) the Secret is read again and the patch recomputed, so two clean-ups of one
        BrokerToken at once both succeed and the second finds nothing left to drop."""
        for attempt in range(ORPHAN_ATTEMPTS):
            try:
                secret = await call_json(self._core.read_namespaced_secret, name, namespace)
            except NotFound:
                return
            metadata = secret.get("metadata") or {}
            refs = metadata.get("ownerReferences") or []
            kept = [ref for ref in refs if ref.get("uid") != owner_uid]
            if len(kept) == len(refs):
                return
            patch = {"metadata": {"ownerReferences": kept or None, "resourceVersion": metadata.get("resourceVersion")}}
            try:
                # A JSON merge patch replaces the list; a strategic merge patch would merge it by uid and keep ours.
                self._wrote(
                    await call_json(
                        self._core.patch_namespaced_secret,
                        name,
                        namespace,
                        patch,
                        _content_type="application/merge-patch+json",
                    )
                )
                return
            except NotFound:
                return
            except Conflict:
                if attempt == ORPHAN_ATTEMPTS - 1:
                    raise
