"""The operator's copy of one kind of object, per namespace: what reconcile passes read instead of the API server.

A namespace is filled by one list the first time a pass looks there, and is then kept current by the watch events
Kopf delivers (`observe`) and by the answers to the operator's own writes (`wrote`, `deleted`), so that a pass never
reads an object older than its own last write. Of two versions the one with the higher resourceVersion wins (the
API server's resourceVersions are etcd revisions, integers that only grow; client-go's mutation cache relies on the
same). The list is repeated every `refresh_seconds`: it drops what a broken watch never reported deleted.

Namespaces nobody has read are not kept: their events are dropped on arrival, which bounds the memory by the
namespaces that hold BrokerTokens, however many unrelated objects the cluster has. Bodies are kept without
`metadata.managedFields` and kubectl's last-applied annotation, which no decision reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Body = dict[str, Any]
# A namespace's objects as one list call returns them, and the list's resourceVersion.
Listing = tuple[list[Body], str]
Lister = Callable[[str], Awaitable[Listing]]
# What names an object within its namespace (the name; "Kind/name" where one cache holds several kinds).
KeyOf = Callable[[Mapping[str, Any]], str]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DELETED = "DELETED"


def version(value: Any) -> int:
    """A resourceVersion as the integer it is; -1 for none (older than any real one)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def name_of(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name") or "")


def everything(body: Mapping[str, Any]) -> bool:
    return True


def trimmed(body: Mapping[str, Any]) -> Body:
    """`body` without the fields no decision reads; the rest is shared with `body`, not copied."""
    metadata = dict(body.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**body, "metadata": metadata}


class NamespacedCache:
    def __init__(
        self,
        lister: Lister,
        *,
        refresh_seconds: float,
        key: KeyOf = name_of,
        selects: Callable[[Mapping[str, Any]], bool] = everything,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`lister` lists a namespace's objects as the watch selects them; `selects` says whether an object the
        operator wrote is one of them (the watch will not report on the others)."""
        self._lister = lister
        self._key = key
        self._selects = selects
        self._refresh = refresh_seconds
        self._clock = clock
        # namespace -> name -> (resourceVersion, body); a body of None is a deletion, kept while it may be newer
        # than what a list in flight will return.
        self._entries: dict[str, dict[str, tuple[int, Body | None]]] = {}
        self._listed_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _put(self, namespace: str, key: str, rv: int, body: Body | None) -> None:
        entries = self._entries.get(namespace)
        if entries is None:
            return  # nobody reads this namespace
        current = entries.get(key)
        if current is None or rv >= current[0]:
            entries[key] = (rv, body)

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (or an object of Kopf's initial listing, type None)."""
        metadata = body.get("metadata") or {}
        rv = version(metadata.get("resourceVersion"))
        self._put(
            metadata.get("namespace") or "", self._key(body), rv, None if event_type == DELETED else trimmed(body)
        )

    def wrote(self, body: Mapping[str, Any]) -> None:
        """The object as the API server answered the operator's own write; one the watch does not select (a Secret
        without the label) counts as absent here, as it will for the watch."""
        self.observe("MODIFIED" if self._selects(body) else DELETED, body)

    def deleted(self, namespace: str, key: str) -> None:
        """The operator deleted it (or found it gone): absent from now on, until a newer version shows up."""
        entries = self._entries.get(namespace)
        if entries is None:
            return
        current = entries.get(key)
        # A deletion's resourceVersion is above the object's last one; a version written after it is higher still.
        entries[key] = ((current[0] if current else -1) + 1, None)

    async def _fill(self, namespace: str) -> None:
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            listed_at = self._listed_at.get(namespace)
            if listed_at is not None and self._clock() - listed_at < self._refresh:
                return  # another pass filled it meanwhile
            started = self._clock()
            # Kept from before the list is sent, so that what happens while it is answered is not lost.
            entries = self._entries.setdefault(namespace, {})
            try:
                items, list_version = await self._lister(namespace)
            except BaseException:
                if listed_at is None:
                    self._entries.pop(namespace, None)
                raise
            listed_rv = version(list_version)
            present = set()
            for item in items:
                key = self._key(item)
                present.add(key)
                self._put(namespace, key, version((item.get("metadata") or {}).get("resourceVersion")), trimmed(item))
            for name, (rv, _) in list(entries.items()):
                # Not in the list and not newer than it: deleted (a deletion older than the list is dropped too).
                if name not in present and rv <= listed_rv:
                    del entries[name]
            self._listed_at[namespace] = started

    async def get(self, namespace: str, key: str) -> Body | None:
        """The object, or None when the namespace has no such object (as the watch selects them)."""
        await self._ensure(namespace)
        entry = self._entries[namespace].get(key)
        return dict(entry[1]) if entry is not None and entry[1] is not None else None

    async def items(self, namespace: str) -> list[Body]:
        """Every object of the namespace, by name."""
        await self._ensure(namespace)
        entries = self._entries[namespace]
        return [dict(body) for _, (_, body) in sorted(entries.items()) if body is not None]

    def namespaces(self) -> set[str]:
        """The namespaces whose objects are kept (those some pass has read)."""
        return set(self._entries)

    async def _ensure(self, namespace: str) -> None:
        listed_at = self._listed_at.get(namespace)
        if listed_at is None or self._clock() - listed_at >= self._refresh:
            await self._fill(namespace)


@dataclasses.dataclass(frozen=True)
class WatchCaches:
    """The caches the reconcile passes read from, and the watch handlers keep current."""

    secrets: NamespacedCache
    workloads: NamespacedCache
