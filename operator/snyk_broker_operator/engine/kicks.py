"""Wake-ups for the per-object reconcile loops: watch events kick a loop instead of reconciling themselves.

This keeps reconciles of one object strictly sequential (one loop per object) however many triggers arrive, and
coalesces a burst of triggers into one pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

Key = tuple[str, str, str]  # (kind, namespace, name); namespace "" for cluster-scoped objects


class Kicks:
    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}
        self._signatures: dict[Key, Hashable] = {}
        # (namespace, Secret name) -> keys of the loops whose consumers read that Secret, and the way back.
        self._readers: dict[tuple[str, str], set[Key]] = {}
        self._reads: dict[Key, tuple[str, str]] = {}

    def watch_secret(self, key: Key, secret_name: str) -> None:
        """Remember which Secret a loop's consumers read, so a change to a workload reading it kicks the loop."""
        secret = (key[1], secret_name)
        if self._reads.get(key) == secret:
            return
        self._forget_reads(key)
        self._reads[key] = secret
        self._readers.setdefault(secret, set()).add(key)

    def _forget_reads(self, key: Key) -> None:
        old = self._reads.pop(key, None)
        if old is not None:
            readers = self._readers.get(old, set())
            readers.discard(key)
            if not readers:
                self._readers.pop(old, None)

    def kick_readers(self, namespace: str, secret_names: set[str]) -> None:
        for name in secret_names:
            for key in self._readers.get((namespace, name), ()):
                self.kick(key)

    def register(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def unregister(self, key: Key) -> None:
        self._events.pop(key, None)
        self._signatures.pop(key, None)
        self._forget_reads(key)

    def kick(self, key: Key) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    def kick_if_changed(self, key: Key, signature: Hashable) -> None:
        """Kick only when what the loop reacts to changed (not, say, after the loop's own status write)."""
        if self._signatures.get(key) != signature:
            self._signatures[key] = signature
            self.kick(key)

    def kick_kind(self, kind: str, *, namespace: str | None) -> None:
        """Kick every loop of `kind`, or only those in `namespace` when one is given."""
        for (each_kind, each_namespace, _), event in self._events.items():
            if each_kind == kind and (namespace is None or each_namespace == namespace):
                event.set()


async def wait_for_kick(kick: asyncio.Event, stop: asyncio.Future[Any], *, seconds: float) -> None:
    """Sleep until kicked, stopped, or `seconds` pass; then clear the kick for the next round."""
    kicked: asyncio.Future[Any] = asyncio.ensure_future(kick.wait())
    try:
        await asyncio.wait({kicked, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        kicked.cancel()
    kick.clear()
