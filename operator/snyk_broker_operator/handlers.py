"""Kopf glue only: one reconcile loop (a daemon) per object, and watch handlers that kick those loops.

No decision is taken here. The daemon runs `engine.cycle.reconcile` (gather -> decide -> act -> status), then sleeps
until a kick, its own requeue delay, or its stop. Kopf is given no create/update handlers, so it keeps no diff-base
or progress annotations on our objects: a converged BrokerToken sees no write from this operator at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from snyk_broker_operator.engine import cleanup, connection_check, cycle, kicks
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.models.enums import ConnectionKind
from snyk_broker_operator.reconcile import consumers
from snyk_broker_operator.reconcile.desired import BROKER_TOKEN_LABEL

logger = logging.getLogger(__name__)

GROUP, VERSION = "snykbroker.dev", "v1alpha1"
FINALIZER = "snykbroker.dev/finalizer"
# Kopf's own bookkeeping (it writes none with only daemons and event handlers, but it must never kick a loop).
KOPF_ANNOTATIONS = frozenset({f"{GROUP}/last-handled-configuration", "kopf.zalando.org/last-handled-configuration"})
# A bug or an unreachable API server must not make a loop spin: wait this long before the next attempt.
AFTER_CRASH_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Runtime:
    """What the handlers share, handed to every handler as `memo.runtime`."""

    deps: Dependencies
    kicks: kicks.Kicks


def configure(settings: kopf.OperatorSettings) -> None:
    """Settings that keep Kopf out of our objects' way; called before the operator starts."""
    settings.persistence.finalizer = FINALIZER
    # Even with no create/update handlers, keep any Kopf state out of the strict status schema.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    # Our own events are explicit and meaningful; Kopf's per-handler events would be one per reconcile.
    settings.posting.enabled = False
    # Only Secrets labelled with a BrokerToken's name are watched (a server-side selector), so unrelated Secrets
    # cost no memory: every Secret the operator writes, and any given token Secret its owner chose to label.
    settings.watching.label_selectors["v1", "secrets"] = BROKER_TOKEN_LABEL
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime = memo["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


BROKER_TOKEN = "BrokerToken"


def _key(kind: str, meta: kopf.Meta) -> kicks.Key:
    return (kind, meta.namespace or "", meta.name or "")


def _signature(body: kopf.Body) -> tuple[Any, ...]:
    """What a reconcile reacts to in the object itself: spec (via generation), annotations, deletion."""
    annotations = tuple(sorted((k, v) for k, v in body.metadata.annotations.items() if k not in KOPF_ANNOTATIONS))
    return (body.metadata.get("generation"), annotations, body.metadata.get("deletionTimestamp"))


async def _reconcile_loop(
    body: kopf.Body, stopped: kopf.DaemonStopped, runtime: Runtime, what: str, pass_: Callable[[], Awaitable[float]]
) -> None:
    key = _key(what, body.metadata)
    kick = runtime.kicks.register(key)
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopped.wait())
    try:
        while not stopped:
            try:
                delay = await pass_()
            except Exception:
                logger.exception("Reconcile of %s %s/%s failed unexpectedly", *key)
                delay = AFTER_CRASH_SECONDS
            await kicks.wait_for_kick(kick, stop, seconds=delay)
    finally:
        stop.cancel()
        runtime.kicks.unregister(key)


@kopf.daemon(GROUP, VERSION, "brokertokens", cancellation_backoff=5.0, cancellation_timeout=30.0)
async def broker_token_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)

    async def one_pass() -> float:
        secret_name = (body.spec.get("secret") or {}).get("name") or body.metadata.name
        runtime.kicks.watch_secret(_key(BROKER_TOKEN, body.metadata), str(secret_name))
        return await cycle.reconcile(body, runtime.deps)

    await _reconcile_loop(body, stopped, runtime, BROKER_TOKEN, one_pass)
    if body.metadata.get("deletionTimestamp"):
        await cleanup.release_secret(body, runtime.deps)


@kopf.on.event(GROUP, VERSION, "brokertokens")
async def broker_token_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    if body.metadata.get("deletionTimestamp") and type != "DELETED":
        # Also here, not only when the loop stops: after an operator restart no loop runs for a deleting object.
        await cleanup.release_secret(body, runtime.deps)
        return
    runtime.kicks.kick_if_changed(_key(BROKER_TOKEN, body.metadata), _signature(body))


@kopf.on.event("v1", "secrets")
async def managed_secret_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    # Only Secrets labelled with a BrokerToken's name reach here (settings.watching.label_selectors): a deleted or
    # edited consumer Secret wakes its BrokerToken, which restores it from custody; an edited given Secret wakes
    # the BrokerToken that takes its token.
    owner = meta.labels.get(BROKER_TOKEN_LABEL)
    if owner:
        _runtime(memo).kicks.kick((BROKER_TOKEN, meta.namespace or "", owner))


@kopf.on.event("apps", "v1", "deployments")
@kopf.on.event("apps", "v1", "statefulsets")
async def workload_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    # A consumer changed (a rollout progressed, or its pod template now reads a token Secret): wake the
    # BrokerTokens whose Secret it reads. Kopf keeps no copy of these objects; each event is looked at and dropped.
    pod_spec = body.spec.get("template", {}).get("spec", {})
    _runtime(memo).kicks.kick_readers(body.metadata.namespace or "", consumers.referenced_secrets(pod_spec))


async def _check_connection(body: kopf.Body, kind: ConnectionKind, runtime: Runtime) -> float:
    delay, ready = await connection_check.check(body, kind, runtime.deps)
    if ready:
        # BrokerTokens that stalled on this connection retry now rather than at the end of their backoff.
        scope = body.metadata.namespace if kind is ConnectionKind.SNYK_CONNECTION else None
        runtime.kicks.kick_kind(BROKER_TOKEN, namespace=scope)
    return delay


@kopf.daemon(GROUP, VERSION, "snykconnections", cancellation_backoff=5.0, cancellation_timeout=10.0)
async def snyk_connection_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    await _reconcile_loop(
        body,
        stopped,
        runtime,
        "SnykConnection",
        lambda: _check_connection(body, ConnectionKind.SNYK_CONNECTION, runtime),
    )


@kopf.daemon(GROUP, VERSION, "clustersnykconnections", cancellation_backoff=5.0, cancellation_timeout=10.0)
async def cluster_snyk_connection_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    await _reconcile_loop(
        body,
        stopped,
        runtime,
        "ClusterSnykConnection",
        lambda: _check_connection(body, ConnectionKind.CLUSTER_SNYK_CONNECTION, runtime),
    )


@kopf.on.event(GROUP, VERSION, "snykconnections")
@kopf.on.event(GROUP, VERSION, "clustersnykconnections")
async def connection_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _runtime(memo).kicks.kick_if_changed(_key(str(body.get("kind")), body.metadata), _signature(body))
