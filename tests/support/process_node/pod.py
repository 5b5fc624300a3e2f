"""One pod on the process node: its container run as a local process, probed, reported, and stopped on deletion.

A thread per pod (so a hung probe or a long grace period holds up no other pod):
- start: the container's command (from the image map) with the environment resolved as the kubelet does
  (podenv.py); a missing Secret or key is reported as CreateContainerConfigError and retried every second;
- ports: every containerPort gets a free 127.0.0.1 port of its own, since all pods share the host's network; an env
  var PORT whose value is a containerPort is set to that port, and probes naming the containerPort (by number or
  name) go to it;
- readiness: the readinessProbe's httpGet (initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold,
  failureThreshold); Ready as soon as the process runs when there is none. Liveness probes are not run;
- a process that exits by itself is started again after a second (restartPolicy Always), restartCount counting;
- deletion: SIGTERM to the process group once the pod has a deletionTimestamp, SIGKILL when its
  deletionGracePeriodSeconds have passed, then the pod object is deleted (grace 0, uid precondition) as the kubelet
  does. A pod removed from the API outright has its process killed at once.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.process_node import podenv

logger = logging.getLogger("process-node")
POD_IP = "127.0.0.1"
TICK = 0.05
RESTART_DELAY = 1.0


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def die_with_parent() -> list[str]:
    """A command prefix that makes the process get SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG,
    through util-linux's setpriv, set between fork and exec by a separate program: a preexec_fn could deadlock in a
    threaded parent), so no process outlives a killed test run. Empty where setpriv is missing."""
    return ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((POD_IP, 0))
        return int(probe.getsockname()[1])


class Probe:
    """A readiness probe's counters: Ready flips after successThreshold successes or failureThreshold failures."""

    def __init__(self, spec: dict[str, Any] | None, ports: Mapping[int | str, int]) -> None:
        self.spec = spec or {}
        get = self.spec.get("httpGet") or {}
        self.url = f"http://{POD_IP}:{ports.get(get.get('port', 0), 0)}{get.get('path', '/')}" if get else None
        self.initial_delay = float(self.spec.get("initialDelaySeconds", 0))
        self.period = float(self.spec.get("periodSeconds", 10))
        self.timeout = float(self.spec.get("timeoutSeconds", 1))
        self.successes_needed = int(self.spec.get("successThreshold", 1))
        self.failures_allowed = int(self.spec.get("failureThreshold", 3))
        self.successes = self.failures = 0
        self.next_at = 0.0

    def due(self, started: float) -> bool:
        return time.monotonic() >= max(self.next_at, started + self.initial_delay)

    def run(self, ready: bool) -> bool:
        """One probe; returns the new readiness."""
        self.next_at = time.monotonic() + self.period
        if self.url is None:
            return True
        try:
            ok = 200 <= httpx.get(self.url, timeout=self.timeout).status_code < 400
        except httpx.HTTPError:
            ok = False
        self.successes, self.failures = (self.successes + 1, 0) if ok else (0, self.failures + 1)
        if not ready and self.successes >= self.successes_needed:
            return True
        if ready and self.failures >= self.failures_allowed:
            return False
        return ready


class PodRunner(threading.Thread):
    """Runs, probes, reports and stops one pod's (single) container."""

    def __init__(
        self, api: client.ApiClient, pod: dict[str, Any], images: Mapping[str, list[str]], log_dir: Path
    ) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.core = client.CoreV1Api(api)
        self.pod = pod
        self.namespace, self.pod_name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.images = images
        self.log_path = log_dir / f"{self.namespace}_{self.pod_name}.log"
        self.lock = threading.Lock()
        self.gone = threading.Event()
        self.wake = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.start_time = now()
        self.ready = False
        self.ready_since = now()
        self.restarts = 0
        self.waiting: tuple[str, str] | None = ("ContainerCreating", "")
        self.reported: Any = None
        self.probe: Probe | None = None

    def observe(self, pod: dict[str, Any]) -> None:
        with self.lock:
            self.pod = pod
        self.wake.set()

    def vanish(self) -> None:
        """The pod is no longer in the API (deleted with grace 0 by someone else): kill at once."""
        self.gone.set()
        self.wake.set()

    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            logger.exception("pod %s/%s: runner failed", self.namespace, self.pod_name)
            self._kill(0)

    def _loop(self) -> None:
        retry_at = 0.0
        while not self.gone.is_set():
            with self.lock:
                pod = self.pod
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(int(pod["metadata"].get("deletionGracePeriodSeconds") or 0))
                return
            if self.process is None and time.monotonic() >= retry_at:
                retry_at = time.monotonic() + self._start(pod)
            elif self.process is not None and self.process.poll() is not None:
                self._exited()
                retry_at = time.monotonic() + RESTART_DELAY
            elif self.process is not None and self.probe is not None and self.probe.due(self.started_at):
                ready = self.probe.run(self.ready)
                if ready != self.ready:
                    self.ready, self.ready_since = ready, now()
            self._report()
            self.wake.wait(TICK)
            self.wake.clear()
        self._kill(0)

    def _container(self, pod: dict[str, Any]) -> dict[str, Any]:
        containers = pod["spec"]["containers"]
        if len(containers) != 1 or pod["spec"].get("initContainers"):
            raise podenv.ConfigError("the process node runs pods with exactly one container and no init containers")
        return dict(containers[0])

    def _lookup(self, kind: str, name: str) -> dict[str, str] | None:
        try:
            if kind == "Secret":
                return podenv.secret_data(self.core.read_namespaced_secret(name, self.namespace))
            return dict(self.core.read_namespaced_config_map(name, self.namespace).data or {})
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def _start(self, pod: dict[str, Any]) -> float:
        """Start the container's process; the delay before the next attempt when it could not start."""
        try:
            container = self._container(pod)
            command = self.images.get(container["image"])
            if command is None:
                raise podenv.ConfigError(f"no command for image {container['image']} on the process node")
            if container.get("command"):  # it would replace the image's entrypoint, a path inside the image
                raise podenv.ConfigError("a container command is not supported on the process node (args are)")
            env = podenv.resolve(pod, container, self._lookup, pod_ip=POD_IP)
        except podenv.ConfigError as error:
            self.waiting = ("CreateContainerConfigError", str(error))
            return 1.0
        ports: dict[int | str, int] = {}
        for port in container.get("ports") or []:
            ports[port["containerPort"]] = ports.get(port["containerPort"]) or free_port()
            if port.get("name"):
                ports[port["name"]] = ports[port["containerPort"]]
        if env.get("PORT", "").isdigit() and int(env["PORT"]) in ports:
            env["PORT"] = str(ports[int(env["PORT"])])
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "HOSTNAME": self.pod_name, **env}
        args = [*die_with_parent(), *command, *(container.get("args") or [])]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, env=full_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd="/tmp",
            )  # fmt: skip
        self.started_at = time.monotonic()
        self.probe = Probe(container.get("readinessProbe"), ports)
        self.waiting = None
        self.ready = False
        logger.info("pod %s/%s: started pid %d, ports %s", self.namespace, self.pod_name, self.process.pid, ports)
        return 0.0

    def _exited(self) -> None:
        assert self.process is not None
        logger.info("pod %s/%s: exited with %s", self.namespace, self.pod_name, self.process.returncode)
        self.process = None
        self.restarts += 1
        self.waiting = ("CrashLoopBackOff", "the process exited")
        if self.ready:
            self.ready, self.ready_since = False, now()

    def _terminate(self, grace: int) -> None:
        self._kill(grace)
        if self.ready:
            self.ready, self.ready_since = False, now()
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(
                self.pod_name,
                self.namespace,
                body=client.V1DeleteOptions(grace_period_seconds=0, preconditions=client.V1Preconditions(uid=self.uid)),
            )
        logger.info("pod %s/%s: deleted after its process stopped", self.namespace, self.pod_name)

    def _kill(self, grace: float) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=max(grace, 0.0) or 0.001)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def status(self) -> dict[str, Any]:
        running = self.process is not None
        ready = "True" if self.ready and running else "False"
        state: dict[str, Any] = {"running": {"startedAt": self.start_time}}
        if not running:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        container = self.pod["spec"]["containers"][0]
        conditions = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": self.ready_since},
            {"type": "Ready", "status": ready, "lastTransitionTime": self.ready_since},
        ]
        return {
            "phase": "Running" if running or self.restarts else "Pending",
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": self.start_time,
            "conditions": conditions,
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "containerID": f"process://{self.process.pid}" if self.process else "",
                    "ready": ready == "True",
                    "started": running,
                    "restartCount": self.restarts,
                    "state": state,
                }
            ],
        }

    def _report(self) -> None:
        status = self.status()
        key = (status["phase"], status["conditions"][3]["status"], self.restarts, repr(self.waiting), self.process)
        if key == self.reported:
            return
        try:
            self.core.patch_namespaced_pod_status(self.pod_name, self.namespace, {"status": status})
            self.reported = key
        except ApiException as error:
            if error.status == 404:
                self.gone.set()
            else:
                logger.warning("pod %s/%s: status not written (%s)", self.namespace, self.pod_name, error.status)
