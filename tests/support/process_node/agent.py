"""The process node: a Node that kwok does not manage, whose pods run as local processes (a kubelet for tests).

It registers the Node (no kwok annotation, so kwok leaves it alone; tainted, so only pods that tolerate the taint
land on it), keeps it Ready by renewing its Lease in kube-node-lease and its Ready condition's heartbeat, watches the
pods bound to it (spec.nodeName, as the kubelet does, so a deletion is acted on within milliseconds; a full list
every 2 s catches up after a broken watch) and hands each to a PodRunner (pod.py). On SIGTERM it kills every process
it started and deletes the Node.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from support.process_node.pod import POD_IP, PodRunner, now

logger = logging.getLogger("process-node")
NODE_LABEL = "snykbroker.dev/process-node"
TAINT = {"key": NODE_LABEL, "value": "true", "effect": "NoSchedule"}
LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10.0
LIST_INTERVAL = 2.0
WATCH_SECONDS = 60


def node_manifest(name: str) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        NODE_LABEL: "true",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"taints": [TAINT]},
    }


def node_status() -> dict[str, Any]:
    stamp = now()

    def condition(kind: str, status: str, reason: str) -> dict[str, str]:
        return {"type": kind, "status": status, "reason": reason, "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp, "message": reason}  # fmt: skip

    resources = {"cpu": "16", "memory": "64Gi", "pods": "110"}
    return {
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [{"type": "InternalIP", "address": POD_IP}, {"type": "Hostname", "address": "localhost"}],
            "conditions": [
                condition("Ready", "True", "KubeletReady"),
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.2-process-node",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "process://local",
                "osImage": "local processes",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
            "phase": "Running",
        }
    }


class ProcessNode:
    def __init__(self, api: client.ApiClient, name: str, images: Mapping[str, list[str]], log_dir: Path) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.leases = client.CoordinationV1Api(api)
        self.name = name
        self.images = images
        self.log_dir = log_dir
        self.runners: dict[str, PodRunner] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.selector = f"spec.nodeName={name}"

    def register(self) -> None:
        with contextlib.suppress(ApiException):
            self.core.delete_node(self.name)
        self.core.create_node(cast(Any, node_manifest(self.name)))
        self.heartbeat()

    def heartbeat(self) -> None:
        try:
            self.core.patch_node_status(self.name, node_status())
        except ApiException as error:
            if error.status != 404:
                raise
            logger.warning("process node %s: the Node was deleted; registering it again", self.name)
            self.core.create_node(cast(Any, node_manifest(self.name)))
            self.core.patch_node_status(self.name, node_status())
        renew = datetime.datetime.now(datetime.UTC)
        spec = client.V1LeaseSpec(holder_identity=self.name, lease_duration_seconds=LEASE_SECONDS, renew_time=renew)
        lease = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name), spec=spec)
        try:
            body = {"spec": self.api.sanitize_for_serialization(spec)}
            self.leases.patch_namespaced_lease(self.name, "kube-node-lease", body)
        except ApiException as error:
            if error.status != 404:
                raise
            self.leases.create_namespaced_lease("kube-node-lease", lease)

    def run(self) -> None:
        watcher = threading.Thread(target=self.watch, name="pod-watch", daemon=True)
        watcher.start()
        next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        while not self.stopping.is_set():
            try:
                if time.monotonic() >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
                self.sync()
            except Exception as error:  # the API server may be restarted under us; try again next round
                logger.warning("process node %s: %s: %s", self.name, type(error).__name__, error)
            self.stopping.wait(min(LIST_INTERVAL, max(0.0, next_heartbeat - time.monotonic())))

    def watch(self) -> None:
        while not self.stopping.is_set():
            try:
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces, field_selector=self.selector, timeout_seconds=WATCH_SECONDS
                )
                for event in stream:
                    pod = self.api.sanitize_for_serialization(event["object"])
                    with self.lock:
                        if event["type"] == "DELETED":
                            if runner := self.runners.get(pod["metadata"]["uid"]):
                                runner.vanish()
                        else:
                            self._observe(pod)
                    if self.stopping.is_set():
                        return
            except Exception as error:  # a broken watch: the periodic list covers the gap, then watch again
                logger.warning("process node %s: watch: %s: %s", self.name, type(error).__name__, error)
                self.stopping.wait(1)

    def _observe(self, pod: dict[str, Any]) -> None:
        runner = self.runners.get(pod["metadata"]["uid"])
        if runner is None:
            runner = self.runners[pod["metadata"]["uid"]] = PodRunner(self.api, pod, self.images, self.log_dir)
            runner.start()
        else:
            runner.observe(pod)

    def sync(self) -> None:
        listed = self.core.list_pod_for_all_namespaces(field_selector=self.selector).items
        with self.lock:
            seen: set[str] = set()
            for item in listed:
                pod = self.api.sanitize_for_serialization(item)
                seen.add(pod["metadata"]["uid"])
                self._observe(pod)
            for uid, runner in list(self.runners.items()):
                if uid not in seen:
                    runner.vanish()
                    if not runner.is_alive():
                        del self.runners[uid]

    def shutdown(self) -> None:
        """Kill every process (SIGTERM, then SIGKILL after 5 s) and remove the Node and its Lease."""
        self.stopping.set()
        with self.lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.vanish()
        for runner in runners:
            runner.join(timeout=15)
        with contextlib.suppress(ApiException):
            self.core.delete_node(self.name)
        with contextlib.suppress(ApiException):
            self.leases.delete_namespaced_lease(self.name, "kube-node-lease")
