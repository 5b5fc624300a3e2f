"""Broker-client workloads for tests: the sample from deploy/samples, renamed and pointed at a given Secret."""

from __future__ import annotations

import copy
import hashlib
from typing import Any, cast

import yaml
from kubernetes import client

from support.cluster import REPO
from support.env import Env

SAMPLE = yaml.safe_load((REPO / "deploy" / "samples" / "broker-client-github.yaml").read_text())
FINGERPRINT_ANNOTATION = "snykbroker.dev/token-fingerprint"


def fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def apps(env: Env) -> client.AppsV1Api:
    return client.AppsV1Api(env.api)


def create_deployment(env: Env, body: dict[str, Any], namespace: str | None = None) -> client.V1Deployment:
    """Create a Deployment from a manifest like :func:`broker_client`'s, in the test's namespace unless told."""
    # The client serializes a dict body as it is; its types ask for a V1Deployment model.
    return apps(env).create_namespaced_deployment(namespace or env.namespace, cast(Any, body))


def template_annotations(workload: client.V1Deployment | client.V1ReplicaSet | client.V1StatefulSet) -> dict[str, str]:
    """The pod template's annotations of a Deployment or ReplicaSet read back from the API ({} when it has none)."""
    return workload.spec.template.metadata.annotations or {}


def broker_client(
    name: str,
    *,
    secret: str = "broker",
    replicas: int = 2,
    ha: bool = True,
    client_url: str | None = None,
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The sample HA broker client, renamed (label app=<name>), reading its token from `secret`."""
    body = copy.deepcopy(SAMPLE)
    body["metadata"] = {"name": name, "labels": {"app": name}}
    body["spec"]["replicas"] = replicas
    body["spec"]["selector"] = {"matchLabels": {"app": name}}
    body["spec"]["template"]["metadata"] = {"labels": {"app": name}}
    (container,) = body["spec"]["template"]["spec"]["containers"]
    for env in container["env"]:
        if env["name"] == "BROKER_TOKEN":
            env["valueFrom"]["secretKeyRef"] = {"name": secret, "key": "BROKER_TOKEN"}
        if env["name"] == "BROKER_HA_MODE_ENABLED":
            env["value"] = "true" if ha else "false"
        if env["name"] == "BROKER_CLIENT_URL" and client_url:
            env["value"] = client_url
    if node_selector:
        body["spec"]["template"]["spec"]["nodeSelector"] = node_selector
    return dict(body)
