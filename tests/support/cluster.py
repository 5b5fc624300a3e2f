"""How tests reach a Kubernetes cluster: the project's local control plane, or an existing one on request.

The local control plane is started by `hack/local-cluster up` (or reused when it already runs) and stopped at the
end of the session only if this session started it. `SBO_USE_EXISTING_CLUSTER=1` with `KUBECONFIG` runs the same
tests against a cluster the user already has (kind, k3d); nothing here ever fakes the Kubernetes API. Only the local
control plane's processes can be restarted (outage tests): they are ours, an existing cluster's are not.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL_CLUSTER = REPO / "hack" / "local-cluster"


@dataclasses.dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kubectl: Path
    started_here: bool
    local: bool

    @property
    def audit_log(self) -> Path | None:
        """The local control plane's audit log of ServiceAccount requests (hack/local-cluster); None elsewhere."""
        if not self.local:
            return None
        state = Path(os.environ.get("LOCAL_CLUSTER_DIR", REPO / ".local-cluster"))
        return state / "logs" / "audit.log"

    def run_kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def restart_component(self, name: str, *, kill: bool = False, down_for: float = 0.0) -> None:
        """Stop one control-plane process (SIGTERM, or SIGKILL with `kill`), keep it down `down_for` seconds, and
        start it again with the same arguments, ports and data; returns once it is healthy again."""
        if not self.local:
            raise RuntimeError(
                f"cannot restart {name}: only the local control plane (hack/local-cluster) runs processes the tests "
                "own, and this session uses an existing cluster (SBO_USE_EXISTING_CLUSTER=1)"
            )
        args = ["restart", name, *(["--kill"] if kill else []), *(["--down-for", str(down_for)] if down_for else [])]
        # The script's own bounds (stop grace, then the startup timeout) end it well within this.
        result = _local(*args, timeout=down_for + 180)
        if result.returncode != 0:
            raise AssertionError(f"hack/local-cluster {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


def _local(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LOCAL_CLUSTER), *args], capture_output=True, text=True, timeout=timeout, check=False)


def acquire() -> Cluster:
    """Use an existing cluster when asked to, else the local control plane (starting it when it is down)."""
    if os.environ.get("SBO_USE_EXISTING_CLUSTER") == "1":
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            raise RuntimeError("SBO_USE_EXISTING_CLUSTER=1 needs KUBECONFIG to point at the cluster to use")
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise RuntimeError("SBO_USE_EXISTING_CLUSTER=1 needs kubectl on PATH")
        return Cluster(Path(kubeconfig), Path(kubectl), started_here=False, local=False)
    bin_dir = Path(_local("bin-dir").stdout.strip())
    if _local("status").returncode == 0:
        kubeconfig = _local("kubeconfig").stdout.strip().splitlines()[-1]
        return Cluster(Path(kubeconfig), bin_dir / "kubectl", started_here=False, local=True)
    result = _local("up")
    if result.returncode != 0:
        raise RuntimeError(f"hack/local-cluster up failed:\n{result.stderr[-4000:]}")
    kubeconfig = result.stdout.strip().splitlines()[-1]
    return Cluster(Path(kubeconfig), bin_dir / "kubectl", started_here=True, local=True)


def release(cluster: Cluster) -> None:
    if cluster.started_here and os.environ.get("SBO_KEEP_CLUSTER") != "1":
        _local("down")
