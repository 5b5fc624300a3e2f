"""Kopf glue only: one reconcile loop (a daemon) per object, and watch handlers that kick those loops.

No decision is taken here. The daemon runs `engine.cycle.run_pass` (gather -> decide -> act -> status), then sleeps
until a kick, its own requeue delay, or its stop. Kopf is given no create/update handlers, so it keeps no diff-base
or progress annotations on our objects: a converged BrokerToken sees no write from this operator at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from snyk_broker_operator import reconcile
from snyk_broker_operator.adapters.kube.cache import WatchCaches
from snyk_broker_operator.engine import cleanup, connection_check, cycle, kicks
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.metrics import Metrics
from snyk_broker_operator.models import (
    BROKER_TOKEN_KIND,
    BROKER_TOKEN_LABEL,
    BROKER_TOKEN_PLURAL,
    CLUSTER_SNYK_CONNECTION_KIND,
    CLUSTER_SNYK_CONNECTION_PLURAL,
    FINALIZER,
    GROUP,
    KOPF_LAST_HANDLED_ANNOTATIONS,
    SNYK_CONNECTION_KIND,
    SNYK_CONNECTION_PLURAL,
    VERSION,
)
from snyk_broker_operator.models.enums import ConnectionKind

logger = logging.getLogger(__name__)

# A bug or an unreachable API server must not make a loop spin: wait this long before the next attempt.
AFTER_CRASH_SECONDS = 30.0
# How long the deletion of an object waits for its loop to end and release its Secret (see `configure`).
DAEMON_EXIT_WAIT_SECONDS = 3.0


@dataclasses.dataclass(frozen=True)
class Runtime:
    """What the handlers share, handed to every handler as `memo.runtime`."""

    deps: Dependencies
    kicks: kicks.Kicks
    metrics: Metrics = dataclasses.field(default_factory=Metrics)
    # What the passes read labelled Secrets and workloads from; the watch handlers below keep it current.
    caches: WatchCaches | None = None


def configure(settings: kopf.OperatorSettings) -> None:
    """Settings that keep Kopf out of our objects' way; called before the operator starts."""
    settings.persistence.finalizer = FINALIZER
    # Even with no create/update handlers, keep any Kopf state out of the strict status schema.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    # Our own events are explicit and meaningful; Kopf's per-handler events would be one per reconcile.
    settings.posting.enabled = False
    # A deleted object's loop ends by releasing its Secret (a read and a write, tens of milliseconds). Kopf waits
    # only a few event-loop cycles for a daemon to exit before it postpones the finalizer's removal by the daemon's
    # cancellation backoff (5 s): every `kubectl delete` took 5 s longer. Waiting up to this long for the loop to end
    # removes the finalizer in the same cycle; a loop that takes longer still falls back to the backoff.
    settings.background.instant_exit_timeout = DAEMON_EXIT_WAIT_SECONDS
    # Only Secrets labelled with a BrokerToken's name are watched (a server-side selector), so unrelated Secrets
    # cost no memory: every Secret the operator writes, and any given token Secret its owner chose to label.
    settings.watching.label_selectors["v1", "secrets"] = BROKER_TOKEN_LABEL
    # The API server ends a watch after this long and Kopf starts a new one; the client gives up a little later, so
    # a silently dead connection is noticed within five minutes instead of hanging forever.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300


def _runtime(memo: kopf.Memo) -> Runtime:
    runtime = memo["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


def _key(kind: str, meta: kopf.Meta) -> kicks.Key:
    return (kind, meta.namespace or "", meta.name or "")


def _signature(body: kopf.Body) -> tuple[Any, ...]:
    """What a reconcile reacts to in the object itself: spec (via generation), annotations, deletion."""
    annotations = tuple(
        sorted((k, v) for k, v in body.metadata.annotations.items() if k not in KOPF_LAST_HANDLED_ANNOTATIONS)
    )
    return (body.metadata.get("generation"), annotations, body.metadata.get("deletionTimestamp"))


async def _reconcile_loop(
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    runtime: Runtime,
    what: str,
    pass_: Callable[[], Awaitable[tuple[float, str]]],
) -> None:
    """Run passes until stopped; each pass returns (seconds until the next one is due, how it ended)."""
    key = _key(what, body.metadata)
    kick = runtime.kicks.register(key)
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopped.wait())
    try:
        while not stopped:
            started = time.monotonic()
            try:
                delay, outcome = await pass_()
            except Exception:
                logger.exception("Reconcile of %s %s/%s failed unexpectedly", *key)
                delay, outcome = AFTER_CRASH_SECONDS, "error"
            runtime.metrics.passed(what, outcome, time.monotonic() - started)
            await kicks.wait_for_kick(kick, stop, seconds=delay)
    finally:
        stop.cancel()
        runtime.kicks.unregister(key)


@kopf.daemon(GROUP, VERSION, BROKER_TOKEN_PLURAL, cancellation_backoff=5.0, cancellation_timeout=30.0)
async def broker_token_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    key = _key(BROKER_TOKEN_KIND, body.metadata)
    last: list[cycle.PassResult] = []  # the previous pass: the status it left is newer than the watch may show

    async def one_pass() -> tuple[float, str]:
        result = await cycle.run_pass(
            body,
            runtime.deps,
            reads_secret=lambda name: runtime.kicks.watch_secret(key, name),
            last_status=last[0].status if last else None,
        )
        last[:] = [result]
        # The per-token series come from the status the pass left, before the pass is counted as done.
        runtime.metrics.tokens.record(key[1:], result.status)
        return result.delay, result.outcome

    try:
        await _reconcile_loop(body, stopped, runtime, BROKER_TOKEN_KIND, one_pass)
    finally:
        # Deleted, or no longer reconciled by this replica: its series must not linger at their last values.
        runtime.metrics.tokens.forget(key[1:])
    if body.metadata.get("deletionTimestamp"):
        await cleanup.release_secret(body, runtime.deps)


@kopf.on.event(GROUP, VERSION, BROKER_TOKEN_PLURAL)
async def broker_token_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    if body.metadata.get("deletionTimestamp") and type != "DELETED":
        # Also here, not only when the loop stops: after an operator restart no loop runs for a deleting object.
        await cleanup.release_secret(body, runtime.deps)
        return
    runtime.kicks.kick_if_changed(_key(BROKER_TOKEN_KIND, body.metadata), _signature(body))


@kopf.on.event("v1", "secrets")
async def managed_secret_changed(event: kopf.RawEvent, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    if runtime.caches is not None:
        # Before the kick: the pass it wakes must read this version.
        runtime.caches.secrets.observe(event.get("type"), event["object"])
    # Only Secrets labelled with a BrokerToken's name reach here (settings.watching.label_selectors): a deleted or
    # edited consumer Secret wakes its BrokerToken, which restores it from custody; an edited given Secret wakes
    # the BrokerToken that takes its token.
    # The label holds the BrokerToken's name, shortened when longer than a label value may be: the operator's own
    # Secrets also name their BrokerToken in full as their controller.
    controller = next(
        (
            ref
            for ref in meta.get("ownerReferences") or []
            if ref.get("controller") and ref.get("kind") == BROKER_TOKEN_KIND
        ),
        None,
    )
    owner = controller["name"] if controller else meta.labels.get(BROKER_TOKEN_LABEL)
    if owner:
        runtime.kicks.kick((BROKER_TOKEN_KIND, meta.namespace or "", owner))


@kopf.on.event("apps", "v1", "deployments")
@kopf.on.event("apps", "v1", "statefulsets")
async def workload_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    # A consumer changed (a rollout progressed, or its pod template now reads a token Secret): wake the
    # BrokerTokens whose Secret it reads. Kopf keeps no copy of these objects, and the cache keeps them only in
    # namespaces that hold BrokerTokens: elsewhere each event is looked at and dropped.
    runtime = _runtime(memo)
    if runtime.caches is not None:
        # Watch events carry their kind, and Kopf gives it to the objects of its listings too.
        runtime.caches.workloads.observe(event.get("type"), event["object"])
    pod_spec = body.spec.get("template", {}).get("spec", {})
    runtime.kicks.kick_readers(body.metadata.namespace or "", reconcile.referenced_secrets(pod_spec))


async def _check_connection(body: kopf.Body, kind: ConnectionKind, runtime: Runtime) -> tuple[float, str]:
    delay, ready = await connection_check.check(body, kind, runtime.deps)
    if ready:
        # BrokerTokens that stalled on this connection retry now rather than at the end of their backoff.
        scope = body.metadata.namespace if kind is ConnectionKind.SNYK_CONNECTION else None
        runtime.kicks.kick_kind(BROKER_TOKEN_KIND, namespace=scope)
    return delay, "ready" if ready else "not_ready"


@kopf.daemon(GROUP, VERSION, SNYK_CONNECTION_PLURAL, cancellation_backoff=5.0, cancellation_timeout=10.0)
async def snyk_connection_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    await _reconcile_loop(
        body,
        stopped,
        runtime,
        SNYK_CONNECTION_KIND,
        lambda: _check_connection(body, ConnectionKind.SNYK_CONNECTION, runtime),
    )


@kopf.daemon(GROUP, VERSION, CLUSTER_SNYK_CONNECTION_PLURAL, cancellation_backoff=5.0, cancellation_timeout=10.0)
async def cluster_snyk_connection_loop(body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    await _reconcile_loop(
        body,
        stopped,
        runtime,
        CLUSTER_SNYK_CONNECTION_KIND,
        lambda: _check_connection(body, ConnectionKind.CLUSTER_SNYK_CONNECTION, runtime),
    )


@kopf.on.event(GROUP, VERSION, SNYK_CONNECTION_PLURAL)
@kopf.on.event(GROUP, VERSION, CLUSTER_SNYK_CONNECTION_PLURAL)
async def connection_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _runtime(memo).kicks.kick_if_changed(_key(str(body.get("kind")), body.metadata), _signature(body))
