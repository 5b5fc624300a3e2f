"""`make demo`: the whole story on one machine, then a short summary of what happened.

Local cluster (hack/local-cluster), the Snyk API simulator with the demo seed, the CRDs, the operator, and the
samples in deploy/samples/demo/. The simulator and the operator keep running in the background afterwards, so the
objects can be looked at with kubectl; `make demo-down` stops everything. Logs go to .local-cluster/demo/.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "deploy" / "samples" / "demo"
NAMESPACE = "snyk-broker-demo"
DEMO_KEY = "demo-api-key-0000"  # a key of the simulator's demo seed, not a Snyk key
STATE = Path(os.environ.get("LOCAL_CLUSTER_DIR", REPO / ".local-cluster")) / "demo"
PYTHON = sys.executable


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def run(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"demo: {' '.join(args[:3])} ... failed:\n{result.stderr}")
    return result.stdout


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    bins = run(str(REPO / "hack" / "local-cluster"), "bin-dir").strip()
    return run(f"{bins}/kubectl", f"--kubeconfig={kubeconfig}", *args, stdin=stdin)


def stop_previous() -> None:
    for name in ("operator", "simulator"):
        pid_file = STATE / f"{name}.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink()


def start_background(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = (STATE / f"{name}.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    (STATE / f"{name}.pid").write_text(str(process.pid))
    return process


def start_simulator() -> str:
    seed = REPO / "operator" / "snyk_broker_operator" / "simulator" / "demo-seed.yaml"
    start_background(
        "simulator",
        [PYTHON, "-m", "snyk_broker_operator", "simulate", "--seed", str(seed), "--port", "0", "--random-seed", "1"],
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in (STATE / "simulator.log").read_text(errors="replace").splitlines():
            if line.startswith("simulator listening on "):
                return line.removeprefix("simulator listening on ").strip()
        time.sleep(0.2)
    raise SystemExit("demo: the simulator did not start; see .local-cluster/demo/simulator.log")


def apply_samples(kubeconfig: str, simulator_url: str) -> None:
    kubectl(kubeconfig, "apply", "-f", str(SAMPLES / "00-namespace.yaml"))
    secrets = [
        _secret("snyk-api-token", {"apiToken": DEMO_KEY}),
        _secret("github-scm-token", {"token": "demo-github-token"}),
        # In real life a person pastes a token they were given; the demo makes one up.
        _secret("gitlab-given-token", {"token": str(uuid.uuid4())}),
    ]
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": secrets}))
    connection = yaml.safe_load((SAMPLES / "10-snykconnection.yaml").read_text())
    connection["spec"]["apiUrl"] = simulator_url.removesuffix("/v1")  # the API base; v1 lives under /v1
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(connection))
    for sample in ("20-brokertoken-github.yaml", "30-brokertoken-gitlab-given.yaml"):
        kubectl(kubeconfig, "apply", "-f", str(SAMPLES / sample))
    # The realistic broker client from deploy/samples: two HA replicas reading the github token's Secret.
    broker = yaml.safe_load((REPO / "deploy" / "samples" / "broker-client-github.yaml").read_text())
    broker["metadata"]["namespace"] = NAMESPACE
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(broker))


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE}, "data": encoded}


def summary(kubeconfig: str, simulator_url: str) -> None:
    print()
    print(kubectl(kubeconfig, "-n", NAMESPACE, "get", "brokertokens,snykconnections,deployments"))
    tokens = json.loads(kubectl(kubeconfig, "-n", NAMESPACE, "get", "brokertokens", "-o", "json"))["items"]
    for item in tokens:
        status = item.get("status", {})
        secret = (item["spec"].get("secret") or {}).get("name") or item["metadata"]["name"]
        shared = ", ".join(f"{s['orgId'][-4:]}:{s['state']}" for s in status.get("sharedWith") or []) or "-"
        print(
            f"  {item['metadata']['name']:<8} Secret {secret:<22} fingerprint {status.get('tokenFingerprint')}"
            f"  shared with {shared}"
        )
    admin = simulator_url.removesuffix("/v1") + "/_sim/state"
    calls = httpx.get(admin, timeout=10).json()["calls"]
    counts: dict[str, int] = {}
    for call in calls:
        counts[call["endpoint"]] = counts.get(call["endpoint"], 0) + 1
    print("\n  Snyk API calls made: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
    print(f"\n  Logs: {STATE}/operator.log and simulator.log")
    print(f"  Look around: KUBECONFIG={kubeconfig} kubectl -n {NAMESPACE} get bt,secrets")
    print("  Stop everything: make demo-down")


def main() -> int:
    stop_previous()
    say("bringing up the local cluster (the first run builds Kubernetes from source: many minutes)")
    kubeconfig = run(str(REPO / "hack" / "local-cluster"), "up").strip().splitlines()[-1]
    STATE.mkdir(parents=True, exist_ok=True)  # inside the cluster's state directory, which `up` may reset
    say("starting the Snyk API simulator with the demo seed")
    simulator_url = start_simulator()
    say(f"simulator at {simulator_url}; installing the CRDs")
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=snyk-broker-operator",
    )
    say("applying the samples from deploy/samples/demo/")
    apply_samples(kubeconfig, simulator_url)
    say("starting the operator under its own ServiceAccount (the RBAC from deploy/, a TokenRequest token)")
    # A fixed name in the Lease: a demo started again after one that was killed takes the Lease back at once.
    env = {**os.environ, "KUBECONFIG": operator_kubeconfig(kubeconfig), "POD_NAME": "demo-operator"}
    start_background(
        "operator",
        [PYTHON, "-m", "snyk_broker_operator", "run", "--namespace", NAMESPACE, "--operator-namespace", NAMESPACE],
        env=env,
    )
    say("waiting for both BrokerTokens to be Ready (the github one once its broker client rolled onto the token)")
    kubectl(kubeconfig, "-n", NAMESPACE, "wait", "--for=condition=Ready", "--timeout=90s", "brokertoken/github",
            "brokertoken/gitlab")  # fmt: skip
    summary(kubeconfig, simulator_url)
    rotate(kubeconfig)
    return 0


def operator_kubeconfig(kubeconfig: str) -> str:
    """Apply the install's ServiceAccount and RBAC (as `kubectl apply -k deploy/` would, minus the Deployment: the
    demo runs the operator as a process; its Lease is in snyk-broker-operator, where the install's Role on Leases is)
    and write a kubeconfig with a token for that ServiceAccount."""
    identity = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    rendered = yaml.safe_load_all(kubectl(kubeconfig, "kustomize", str(REPO / "deploy")))
    docs = [doc for doc in rendered if doc and doc.get("kind") in identity]
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs))
    token = kubectl(
        kubeconfig, "create", "token", "snyk-broker-operator", "-n", "snyk-broker-operator", "--duration=24h"
    ).strip()
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": "snyk-broker-operator", "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": admin["clusters"][0]["name"], "user": "snyk-broker-operator"}}
        ],
        "current-context": "operator",
    }
    path = STATE / "operator.kubeconfig"
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return str(path)


def rotate(kubeconfig: str) -> None:
    """One Bridge rotation of the github token: a bridge client on the new token first, then the switch."""
    print()
    say("rotating the github token (strategy Bridge): snyk-broker-operator rotate github --wait")
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    result = subprocess.run(
        [PYTHON, "-m", "snyk_broker_operator", "rotate", "github", "-n", NAMESPACE, "--wait", "--timeout", "180"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print("  " + result.stdout.strip().replace("\n", "\n  "))
    if result.returncode != 0:
        raise SystemExit(f"demo: the rotation did not complete:\n{result.stderr}")
    events = kubectl(
        kubeconfig, "-n", NAMESPACE, "get", "events", "--field-selector", "involvedObject.name=github",
        "--sort-by=.eventTime",
        "-o", "jsonpath={range .items[*]}{.reason}{'\\n'}{end}",
    )  # fmt: skip
    story = [r for r in events.split() if r in {"RotationStarted", "BridgeReady", "TokenSwitched", "RotationCompleted"}]
    print(f"  rotation events, in order: {' -> '.join(dict.fromkeys(story))}")


def down() -> int:
    stop_previous()
    run(str(REPO / "hack" / "local-cluster"), "down")
    say("stopped the operator, the simulator and the local cluster")
    return 0


if __name__ == "__main__":
    sys.exit(down() if sys.argv[1:] == ["down"] else main())
