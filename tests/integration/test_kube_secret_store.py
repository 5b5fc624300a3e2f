"""The kube adapter's SecretStore on the real API server, where another writer races it."""

from __future__ import annotations

import asyncio
import threading

from kubernetes import client

from snyk_broker_operator.adapters.kube.secrets import SecretStore

SECRETS = 20


def test_orphan_drops_only_our_owner_while_another_writer_keeps_changing_the_secret(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    owners = [
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
        for name in ("owner-a", "owner-b")
    ]
    refs = [
        client.V1OwnerReference(api_version="v1", kind="ConfigMap", name=o.metadata.name, uid=o.metadata.uid)
        for o in owners
    ]
    names = [f"s-{index:02d}" for index in range(SECRETS)]
    for name in names:
        secret = client.V1Secret(metadata=client.V1ObjectMeta(name=name, owner_references=refs))
        core.create_namespaced_secret(namespace, secret)

    # Another writer (a GitOps tool, a second clean-up path) changes every Secret as fast as it can, so that most
    # patches the adapter computes are stale by the time they arrive.
    stop = threading.Event()

    def keep_writing() -> None:
        bump = 0
        while not stop.is_set():
            bump += 1
            for name in names:
                core.patch_namespaced_secret(name, namespace, {"metadata": {"annotations": {"bump": str(bump)}}})

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    store = SecretStore(kube_api)

    async def orphan_all() -> None:
        # Each Secret released twice at once, as the two clean-up paths of a deleted BrokerToken may do.
        owner = str(owners[0].metadata.uid)
        await asyncio.gather(*(store.orphan(namespace, name, owner) for name in names for _ in range(2)))

    try:
        asyncio.run(orphan_all())
    finally:
        stop.set()
        writer.join(timeout=10)
    for name in names:
        secret = core.read_namespaced_secret(name, namespace)
        assert [ref.uid for ref in secret.metadata.owner_references] == [owners[1].metadata.uid], name
