"""Runs the operator (`snyk-broker-operator run`): the composition root. It is the one place that names concrete
adapters: it builds them, wires them into the engine's ports, configures Kopf, and serves until stopped. With leader
election it first stands by until it holds the Lease (`leadership`), starts Kopf only then, exits the moment it can
no longer renew, and releases the Lease once Kopf has stopped."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

import kopf

from snyk_broker_operator import handlers, leadership, metrics
from snyk_broker_operator.adapters.kube import connect
from snyk_broker_operator.adapters.kube.cache import WatchCaches
from snyk_broker_operator.adapters.kube.customobjects import CustomObjects
from snyk_broker_operator.adapters.kube.events import EventRecorder
from snyk_broker_operator.adapters.kube.leases import Leases
from snyk_broker_operator.adapters.kube.secrets import SecretStore, labelled_cache
from snyk_broker_operator.adapters.kube.workloads import Workloads, workload_cache
from snyk_broker_operator.adapters.snyk import NO_OBSERVER, SnykObserver
from snyk_broker_operator.engine import failpoints
from snyk_broker_operator.engine.connections import Connections
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.engine.kicks import Kicks

logger = logging.getLogger(__name__)

DEFAULT_OPERATOR_NAMESPACE = "snyk-broker-operator"
# Threads for the (blocking) Kubernetes client's calls. They mostly wait on the API server, so more threads than
# cores keep more requests in flight; Python's default (cores + 4: 6 on two cores) held a cold start of a thousand
# BrokerTokens to the API server's round-trip time.
KUBE_CLIENT_THREADS = 16
# How often each namespace's cached Secrets and workloads are listed again (a watch that broke and resumed reports
# no deletion it missed); as often as a converged BrokerToken is resynced.
CACHE_REFRESH_SECONDS = 300.0


@dataclasses.dataclass(frozen=True)
class RunOptions:
    namespaces: Sequence[str] = ()
    all_namespaces: bool = False
    # Where ClusterSnykConnection API-token Secrets live (the namespace the operator runs in).
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE
    kubeconfig: str | None = None
    liveness_endpoint: str | None = None
    # host:port to serve Prometheus metrics on (None: not served).
    metrics_address: str | None = None
    # Reconcile only while holding this Lease (None: no leader election, this process always reconciles).
    lease: LeaseOptions | None = None


@dataclasses.dataclass(frozen=True)
class LeaseOptions:
    name: str = leadership.DEFAULT_LEASE_NAME
    # Where the Lease lives: by default the namespace the operator runs in (where its Role on Leases is).
    namespace: str = DEFAULT_OPERATOR_NAMESPACE
    timings: leadership.Timings = dataclasses.field(default_factory=leadership.Timings)


def operator_namespace_default() -> str:
    """In a Pod, the service account's namespace; else POD_NAMESPACE; else the documented default."""
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as file:
            return file.read().strip()
    except OSError:
        return os.environ.get("POD_NAMESPACE", DEFAULT_OPERATOR_NAMESPACE)


def _identity() -> Any:
    # Kopf types this as its own NewType of str, which it does not export.
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}/{os.getpid()}"


def _candidate_identity() -> str:
    """This replica's name in the Lease and in the events it records."""
    return leadership.candidate_identity(os.environ, socket.gethostname(), os.getpid())


def build_caches(api: connect.ApiClient) -> WatchCaches:
    return WatchCaches(
        secrets=labelled_cache(api, refresh_seconds=CACHE_REFRESH_SECONDS),
        workloads=workload_cache(api, refresh_seconds=CACHE_REFRESH_SECONDS),
    )


def build_dependencies(
    api: connect.ApiClient,
    *,
    operator_namespace: str,
    caches: WatchCaches,
    snyk_observer: SnykObserver = NO_OBSERVER,
) -> Dependencies:
    """The real adapters behind the engine's ports; crash points armed from SBO_FAILPOINTS (tests only); every Snyk
    client reports its traffic to `snyk_observer` (the metrics). Passes read labelled Secrets and workloads from
    `caches`; API-token Secrets are read from the API server (they may live in a namespace nothing watches)."""
    objects = CustomObjects(api)
    return Dependencies(
        secrets=SecretStore(api, cache=caches.secrets),
        objects=objects,
        events=EventRecorder(api, instance=_candidate_identity()),
        connections=Connections(
            objects=objects,
            secrets=SecretStore(api),
            operator_namespace=operator_namespace,
            snyk_observer=snyk_observer,
        ),
        workloads=Workloads(api, cache=caches.workloads),
        failpoint=failpoints.from_environment(os.environ),
    )


def build_elector(api: connect.ApiClient, lease: LeaseOptions, on_change: Callable[[bool], None]) -> leadership.Elector:
    return leadership.Elector(
        Leases(api, request_timeout=lease.timings.retry_period),
        namespace=lease.namespace,
        name=lease.name,
        identity=_candidate_identity(),
        timings=lease.timings,
        on_change=on_change,
    )


async def run(options: RunOptions) -> None:
    if options.kubeconfig:
        # Kopf logs in through the kubernetes client, which reads KUBECONFIG: both must use the same cluster.
        os.environ["KUBECONFIG"] = options.kubeconfig
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(max_workers=KUBE_CLIENT_THREADS, thread_name_prefix="kube")
    )
    api = connect.api_client(options.kubeconfig, connections=KUBE_CLIENT_THREADS + 2)
    published = metrics.Metrics()
    caches = build_caches(api)
    deps = build_dependencies(
        api, operator_namespace=options.operator_namespace, caches=caches, snyk_observer=published.snyk
    )
    runtime = handlers.Runtime(deps=deps, kicks=Kicks(), metrics=published, caches=caches)
    if options.metrics_address:
        server, _ = metrics.serve(runtime.metrics, options.metrics_address)
        logger.info("Serving metrics on http://%s:%d/metrics", *server.server_address[:2])
    elector: leadership.Elector | None = None
    keeper: asyncio.Task[None] | None = None
    try:
        if options.lease is not None:
            elector = build_elector(api, options.lease, lambda leading: runtime.metrics.leader.set(int(leading)))
            # A standby starts no Kopf (no watches, no caches): it only polls the Lease, and answers the probe.
            async with leadership.standby_liveness(options.liveness_endpoint):
                if not await leadership.acquire_unless_stopped(elector):
                    return
            keeper = asyncio.create_task(_keep_or_exit(elector))
        else:
            runtime.metrics.leader.set(1)
        await _serve(options, runtime)
    finally:
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if elector is not None:
            # Kopf has stopped (its daemons are done): nothing reconciles here any more, so the Lease can go to a
            # standby now rather than when it expires.
            await elector.release()
        await deps.connections.aclose()
        connect.close(api)


async def _keep_or_exit(elector: leadership.Elector) -> None:
    reason = await elector.keep()
    # Another replica may lead from the lease duration on, and this one stops renewing before that: it must not
    # reconcile one more step. Exiting is the one stop that cannot be delayed by a pass in flight (Kopf's graceful
    # stop waits for it); every step is crash-safe, as the SIGKILL tests show, and the container is restarted.
    logger.critical("Lost the leadership (%s): exiting at once so that only one replica reconciles", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(leadership.EXIT_LEADERSHIP_LOST)


async def _serve(options: RunOptions, runtime: handlers.Runtime) -> None:
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    logger.info(
        "Starting; watching %s; cluster connections read Secrets from namespace %r",
        "all namespaces" if options.all_namespaces else ", ".join(options.namespaces),
        options.operator_namespace,
    )
    await kopf.operator(
        settings=settings,
        memo=kopf.Memo(runtime=runtime),
        # Kopf's peering is not leader election (it pauses peers, it does not fence them): the Lease decides.
        standalone=True,
        clusterwide=options.all_namespaces,
        namespaces=list(options.namespaces),
        liveness_endpoint=options.liveness_endpoint,
        # Kopf would otherwise name itself after the OS user, and the image's uid (65532) has no passwd entry:
        # getpass.getuser() raises there. The pod's name (the hostname in a pod) identifies a replica better.
        identity=_identity(),
    )
