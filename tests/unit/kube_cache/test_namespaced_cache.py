"""The watch cache the reconcile passes read from: filled by one list per namespace, newest version wins, own writes
never lost to an older event, deletions a broken watch missed dropped by the next list, other namespaces not kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from snyk_broker_operator.adapters.kube.cache import LAST_APPLIED, Listing, NamespacedCache
from snyk_broker_operator.adapters.kube.secrets import is_labelled
from snyk_broker_operator.adapters.kube.workloads import kind_and_name

NS = "team-a"
REFRESH = 300.0


def obj(name: str, rv: int, *, namespace: str = NS, kind: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(rv)}, **extra}
    if kind:
        body["kind"] = kind
    return body


class Server:
    """What the list call answers, and how often it was asked; `hold` keeps a list in flight until released."""

    def __init__(self, items: list[dict[str, Any]], version: int) -> None:
        self.items, self.version = items, version
        self.lists = 0
        self.hold: asyncio.Event | None = None

    async def list(self, namespace: str) -> Listing:
        self.lists += 1
        answer = [dict(i) for i in self.items if i["metadata"]["namespace"] == namespace], str(self.version)
        if self.hold is not None:
            await self.hold.wait()
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_of(server: Server, clock: Clock | None = None, **kw: Any) -> NamespacedCache:
    return NamespacedCache(server.list, refresh_seconds=REFRESH, clock=clock or Clock(), **kw)


async def names(cache: NamespacedCache) -> list[str]:
    return [i["metadata"]["name"] for i in await cache.items(NS)]


async def test_the_first_read_lists_the_namespace_once_and_later_reads_ask_nobody() -> None:
    server = Server([obj("a", 5), obj("b", 6), obj("x", 7, namespace="other")], version=7)
    cache = cache_of(server)
    assert await names(cache) == ["a", "b"]
    assert (await cache.get(NS, "a") or {})["metadata"]["resourceVersion"] == "5"
    assert await cache.get(NS, "missing") is None
    assert server.lists == 1


async def test_a_newer_event_replaces_and_an_older_one_never_does() -> None:
    cache = cache_of(Server([obj("a", 5, data={"v": "old"})], version=5))
    await cache.items(NS)
    cache.observe("MODIFIED", obj("a", 9, data={"v": "new"}))
    cache.observe("MODIFIED", obj("a", 7, data={"v": "late"}))  # delivered after the operator's write answer
    assert (await cache.get(NS, "a") or {})["data"] == {"v": "new"}


async def test_an_own_write_is_seen_at_once_and_its_late_older_events_do_not_undo_it() -> None:
    cache = cache_of(Server([], version=3))
    await cache.items(NS)
    cache.wrote(obj("a", 10, data={"v": "written"}))
    cache.observe("ADDED", obj("a", 4, data={"v": "before"}))
    assert (await cache.get(NS, "a") or {})["data"] == {"v": "written"}


async def test_a_deletion_by_event_or_by_the_operator_makes_it_absent_until_a_newer_version() -> None:
    cache = cache_of(Server([obj("a", 5), obj("b", 6)], version=6))
    await cache.items(NS)
    cache.observe("DELETED", obj("a", 8))
    cache.deleted(NS, "b")
    assert await names(cache) == []
    cache.observe("MODIFIED", obj("b", 6))  # the same version again: still deleted
    cache.observe("ADDED", obj("a", 12))  # created again
    assert await names(cache) == ["a"]


async def test_events_of_namespaces_nobody_reads_are_not_kept() -> None:
    server = Server([], version=1)
    cache = cache_of(server)
    cache.observe("ADDED", obj("unrelated", 5, namespace="elsewhere"))
    cache.wrote(obj("unrelated-2", 6, namespace="elsewhere"))
    await cache.items(NS)
    assert cache.namespaces() == {NS}


async def test_what_happens_while_the_list_is_answered_is_kept_and_wins_over_the_list() -> None:
    server = Server([obj("a", 5, data={"v": "listed"}), obj("b", 5)], version=5)
    server.hold = asyncio.Event()
    cache = cache_of(server)
    reading = asyncio.ensure_future(cache.items(NS))
    await asyncio.sleep(0)
    cache.observe("MODIFIED", obj("a", 9, data={"v": "during"}))
    cache.observe("DELETED", obj("b", 10))
    cache.observe("ADDED", obj("c", 11))
    server.hold.set()
    assert [i["metadata"]["name"] for i in await reading] == ["a", "c"]
    assert (await cache.get(NS, "a") or {})["data"] == {"v": "during"}


async def test_concurrent_first_reads_share_one_list() -> None:
    server = Server([obj("a", 5)], version=5)
    server.hold = asyncio.Event()
    cache = cache_of(server)
    readers = [asyncio.ensure_future(cache.items(NS)) for _ in range(5)]
    await asyncio.sleep(0)
    server.hold.set()
    assert all(len(r) == 1 for r in await asyncio.gather(*readers))
    assert server.lists == 1


async def test_the_refresh_list_drops_what_a_broken_watch_never_reported_deleted() -> None:
    clock = Clock()
    server = Server([obj("a", 5), obj("b", 6)], version=6)
    cache = cache_of(server, clock)
    await cache.items(NS)
    server.items, server.version = [obj("a", 5)], 20  # b was deleted while the watch was down
    cache.observe("ADDED", obj("c", 25))  # newer than the refresh list: kept
    clock.now += REFRESH - 1
    assert await names(cache) == ["a", "b", "c"]
    clock.now += 1
    assert await names(cache) == ["a", "c"]
    assert server.lists == 2


async def test_a_failed_first_list_keeps_nothing_and_is_tried_again() -> None:
    calls = 0

    async def failing(namespace: str) -> Listing:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the API server did not answer")
        return [obj("a", 5)], "5"

    cache = NamespacedCache(failing, refresh_seconds=REFRESH, clock=Clock())
    with pytest.raises(ConnectionError):
        await cache.items(NS)
    cache.observe("ADDED", obj("b", 3))
    assert await names(cache) == ["a"]


async def test_bodies_are_kept_without_managed_fields_or_the_last_applied_copy() -> None:
    listed = obj("a", 5)
    listed["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    listed["metadata"]["annotations"] = {LAST_APPLIED: "{...}", "team": "a"}
    cache = cache_of(Server([listed], version=5))
    kept = await cache.get(NS, "a") or {}
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "a"}
    assert listed["metadata"]["managedFields"], "the listed body itself is not changed"


async def test_a_written_secret_without_the_label_is_absent_as_it_is_for_the_watch() -> None:
    cache = cache_of(Server([], version=1), selects=is_labelled)
    await cache.items(NS)
    labelled = obj("a", 5)
    labelled["metadata"]["labels"] = {"snykbroker.dev/broker-token": "a"}
    cache.wrote(labelled)
    assert await cache.get(NS, "a") is not None
    cache.wrote(obj("a", 6))  # the label was taken away by this write
    assert await cache.get(NS, "a") is None


async def test_workloads_of_two_kinds_may_share_a_name() -> None:
    server = Server([obj("app", 5, kind="Deployment"), obj("app", 6, kind="StatefulSet")], version=6)
    cache = cache_of(server, key=kind_and_name)
    assert sorted(i["kind"] for i in await cache.items(NS)) == ["Deployment", "StatefulSet"]
    cache.deleted(NS, "Deployment/app")
    assert [i["kind"] for i in await cache.items(NS)] == ["StatefulSet"]
