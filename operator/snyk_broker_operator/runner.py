"""Runs the operator (`snyk-broker-operator run`): the composition root. It is the one place that names concrete
adapters: it builds them, wires them into the engine's ports, configures Kopf, and serves until stopped."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import kopf

from snyk_broker_operator import handlers, metrics
from snyk_broker_operator.adapters.kube import connect
from snyk_broker_operator.adapters.kube.customobjects import CustomObjects
from snyk_broker_operator.adapters.kube.events import EventRecorder
from snyk_broker_operator.adapters.kube.secrets import SecretStore
from snyk_broker_operator.adapters.kube.workloads import Workloads
from snyk_broker_operator.engine import failpoints
from snyk_broker_operator.engine.connections import Connections
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.engine.kicks import Kicks

logger = logging.getLogger(__name__)

DEFAULT_OPERATOR_NAMESPACE = "snyk-broker-operator"


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


def build_dependencies(api: connect.ApiClient, *, operator_namespace: str) -> Dependencies:
    """The real adapters behind the engine's ports; crash points armed from SBO_FAILPOINTS (tests only)."""
    secrets = SecretStore(api)
    objects = CustomObjects(api)
    return Dependencies(
        secrets=secrets,
        objects=objects,
        events=EventRecorder(api),
        connections=Connections(objects=objects, secrets=secrets, operator_namespace=operator_namespace),
        workloads=Workloads(api),
        failpoint=failpoints.from_environment(os.environ),
    )


async def run(options: RunOptions) -> None:
    if options.kubeconfig:
        # Kopf logs in through the kubernetes client, which reads KUBECONFIG: both must use the same cluster.
        os.environ["KUBECONFIG"] = options.kubeconfig
    api = connect.api_client(options.kubeconfig)
    deps = build_dependencies(api, operator_namespace=options.operator_namespace)
    runtime = handlers.Runtime(deps=deps, kicks=Kicks(), metrics=metrics.Metrics())
    if options.metrics_address:
        server, _ = metrics.serve(runtime.metrics, options.metrics_address)
        logger.info("Serving metrics on http://%s:%d/metrics", *server.server_address[:2])
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    logger.info(
        "Starting; watching %s; cluster connections read Secrets from namespace %r",
        "all namespaces" if options.all_namespaces else ", ".join(options.namespaces),
        options.operator_namespace,
    )
    try:
        await kopf.operator(
            settings=settings,
            memo=kopf.Memo(runtime=runtime),
            standalone=True,
            clusterwide=options.all_namespaces,
            namespaces=list(options.namespaces),
            liveness_endpoint=options.liveness_endpoint,
            # Kopf would otherwise name itself after the OS user, and the image's uid (65532) has no passwd entry:
            # getpass.getuser() raises there. The pod's name (the hostname in a pod) identifies a replica better.
            identity=_identity(),
        )
    finally:
        await deps.connections.aclose()
        connect.close(api)
