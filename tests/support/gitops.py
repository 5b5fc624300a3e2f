"""What GitOps tools see of our objects: kstatus (Flux) and the Argo CD health.lua on captured objects, a recorder of
every version of an object the API server publishes, and the captures that become the Argo CD testdata.

The checkers are the project's Go programs (hack/tools/kstatus-check on sigs.k8s.io/cli-utils, hack/tools/
argo-lua-check on gopher-lua), found through support.tools. Expectations are written from the objects' own
conditions, never from a checker's output, so a test compares two independent readings of the same object.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from support.cluster import REPO
from support.env import GROUP, VERSION
from support.tools import tool_path

Obj = dict[str, Any]

CUSTOMIZATIONS = REPO / "deploy" / "argocd" / "resource_customizations" / GROUP
ROTATE_ANNOTATION = "snykbroker.dev/rotate-requested-at"
# The namespace and simulator address the committed testdata show instead of the test's random ones.
TESTDATA_NAMESPACE = "snyk-broker"
TESTDATA_SIMULATOR = "http://127.0.0.1:8080"
# The clock argo-lua-check's `test` runs actions with (its default), so expected action outputs carry this instant.
TEST_CLOCK = "2001-02-03T04:05:06Z"
UPDATE_TESTDATA = os.environ.get("SBO_UPDATE_TESTDATA") == "1"
# Constant messages of our health.lua (the rest come from the objects' conditions).
NO_STATUS_MESSAGE = "Waiting for snyk-broker-operator to report a status"
PENDING_DELETION = "Pending deletion"
# Metadata the API server sets per object and run; the testdata keep the rest (times in conditions stay).
VOLATILE_METADATA = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "selfLink")
TEST_LABEL = "test.snykbroker.dev/run"
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_TEST_NAMESPACE = re.compile(r"\bt-[a-z0-9-]+-[0-9a-f]{6}\b")


# ---- the checkers ----


def kstatus(obj: Obj) -> dict[str, str]:
    """kstatus of one object: {"kind", "name", "status", "message"}."""
    (line,) = kstatus_lines(json.dumps(obj))
    return line


def kstatus_lines(documents: str) -> list[dict[str, str]]:
    """kstatus-check on YAML/JSON text (several documents or a List): one result per object."""
    result = subprocess.run(
        [str(tool_path("kstatus-check"))], input=documents, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"kstatus-check failed ({result.returncode}): {result.stderr}{result.stdout}"
    return [json.loads(line) for line in result.stdout.splitlines()]


def argo(command: str, script: Path, obj: Obj, *flags: str) -> Any:
    """argo-lua-check -restricted COMMAND SCRIPT on `obj` (given on stdin); its JSON result."""
    result = subprocess.run(
        [str(tool_path("argo-lua-check")), "-restricted", *flags, command, str(script), "-"],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"argo-lua-check {command} {script.name} failed: {result.stderr}{result.stdout}"
    return json.loads(result.stdout)


def argo_health(obj: Obj) -> dict[str, str]:
    return dict(argo("health", CUSTOMIZATIONS / obj["kind"] / "health.lua", obj))


# ---- reading conditions, and what each tool should say ----


def condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def is_true(obj: Obj, kind: str) -> bool:
    found = condition(obj, kind)
    return found is not None and found["status"] == "True"


def reason(obj: Obj) -> str | None:
    """The reason of the Ready condition (the operator gives all three conditions one reason)."""
    found = condition(obj, "Ready")
    return None if found is None else str(found["reason"])


def _said(found: Obj) -> str:
    return str(found.get("message") or found["reason"])


def expected_health(obj: Obj) -> dict[str, str]:
    """What health.lua must say of `obj`, by the rules in docs/gitops.md, read from its conditions."""
    meta, status = obj["metadata"], obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return {"status": "Progressing", "message": PENDING_DELETION}
    if not status.get("conditions"):
        return {"status": "Progressing", "message": NO_STATUS_MESSAGE}
    if status.get("observedGeneration") != meta.get("generation"):
        message = f"Waiting for snyk-broker-operator to observe generation {meta.get('generation')}"
        return {"status": "Progressing", "message": message}
    for kind, verdict in (("Stalled", "Degraded"), ("Reconciling", "Progressing")):
        found = condition(obj, kind)
        if found is not None and found["status"] == "True":
            return {"status": verdict, "message": _said(found)}
    ready = condition(obj, "Ready")
    if ready is None:
        return {"status": "Progressing", "message": "Waiting for the Ready condition"}
    return {"status": "Healthy" if ready["status"] == "True" else "Progressing", "message": _said(ready)}


def expected_kstatus_message(obj: Obj, status: str) -> str:
    """The message kstatus gives with `status` (the rules of sigs.k8s.io/cli-utils for a custom resource)."""
    meta = obj["metadata"]
    if status == "Terminating":
        return "Resource scheduled for deletion"
    observed = (obj.get("status") or {}).get("observedGeneration")
    if status == "InProgress" and observed is not None and observed != meta.get("generation"):
        return f"{obj['kind']} generation is {meta.get('generation')}, but latest observed generation is {observed}"
    wanted = {"Failed": "Stalled", "InProgress": "Reconciling"}.get(status)
    if wanted is not None:
        found = condition(obj, wanted)
        if found is not None and found["status"] == "True":
            return _said(found)
        ready = condition(obj, "Ready")
        return _said(ready) if ready else ""
    return "Resource is Ready" if is_true(obj, "Ready") else "Resource is current"


def assert_not_stalled_and_reconciling(objects: Iterable[Obj]) -> int:
    """No object may be Stalled=True and Reconciling=True at once (kstatus would then depend on list order)."""
    count = 0
    for obj in objects:
        count += 1
        both = is_true(obj, "Stalled") and is_true(obj, "Reconciling")
        rv = obj["metadata"].get("resourceVersion")
        assert not both, (
            f"{obj['kind']} {obj['metadata']['name']} (rv {rv}) is Stalled and Reconciling: {obj['status']}"
        )
    return count


# ---- captures and the committed testdata ----


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of an object's life: the testdata name, and what Flux (kstatus) and Argo CD must say then."""

    kind: str
    name: str
    kstatus: str
    health: str


@dataclasses.dataclass
class Observation:
    stage: Stage
    live: Obj
    kstatus: dict[str, str]
    health: dict[str, str]


class Captures:
    """Checks each captured object with both tools against the stage's expectation and, with SBO_UPDATE_TESTDATA=1,
    writes it (normalized) as the Argo CD testdata of that stage; without it, compares the health with the committed
    health_test.yaml entry of the stage."""

    def __init__(self, renames: dict[str, str] | None = None) -> None:
        self.renames = dict(renames or {})
        self.observations: list[Observation] = []

    def check(self, stage: Stage, live: Obj) -> Observation:
        assert live["kind"] == stage.kind, f"{stage.name}: captured a {live['kind']}, not a {stage.kind}"
        assert_not_stalled_and_reconciling([live])
        health = argo_health(live)
        want_health = expected_health(live)
        assert health == want_health, f"{stage.kind} {stage.name}: health.lua said {health}, expected {want_health}"
        assert health["status"] == stage.health, f"{stage.kind} {stage.name}: Argo CD health {health}"
        status = kstatus(live)
        assert status["status"] == stage.kstatus, f"{stage.kind} {stage.name}: kstatus {status}, object {live}"
        assert status["message"] == expected_kstatus_message(live, stage.kstatus), f"{stage.name}: kstatus {status}"
        observation = Observation(stage, copy.deepcopy(live), status, health)
        self.observations.append(observation)
        if UPDATE_TESTDATA:
            write_health_capture(stage, self.normalized(live))
        else:
            self._compare_with_committed(stage, health)
        return observation

    def normalized(self, obj: Obj) -> Obj:
        return normalize(obj, self.renames)

    def _compare_with_committed(self, stage: Stage, health: dict[str, str]) -> None:
        committed = {t["inputPath"]: t["healthStatus"] for t in _health_tests(stage.kind)}
        entry = committed.get(f"testdata/{stage.name}.yaml")
        assert entry is not None, (
            f"no {stage.kind} health_test.yaml entry for {stage.name}: run with SBO_UPDATE_TESTDATA=1"
        )
        assert entry["status"] == health["status"], f"{stage.kind} {stage.name}: committed {entry}, live {health}"
        live_message = canonical(normalize_text(health["message"], self.renames))
        assert canonical(entry.get("message", "")) == live_message, f"{stage.name}: committed {entry}, live {health}"


def normalize(obj: Obj, renames: dict[str, str]) -> Obj:
    """A capture as committed: no per-run metadata, the test's namespace and random names replaced by stable ones."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    labels = meta.get("labels") or {}
    labels.pop(TEST_LABEL, None)
    if not labels:
        meta.pop("labels", None)
    normalized: Obj = _replace_strings(out, renames)
    return normalized


def normalize_text(text: str, renames: dict[str, str]) -> str:
    for old in sorted(renames, key=len, reverse=True):
        text = text.replace(old, renames[old])
    return text


def canonical(text: str) -> str:
    """A message with what differs between runs (fingerprints, times, test namespaces) blanked out."""
    text = _TEST_NAMESPACE.sub("<namespace>", text.replace(TESTDATA_NAMESPACE, "<namespace>"))
    return _TIMESTAMP.sub("<time>", _FINGERPRINT.sub("sha256:<fingerprint>", text))


def _replace_strings(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, str):
        return normalize_text(value, renames)
    if isinstance(value, list):
        return [_replace_strings(item, renames) for item in value]
    if isinstance(value, dict):
        return {key: _replace_strings(item, renames) for key, item in value.items()}
    return value


def _health_tests(kind: str) -> list[Obj]:
    path = CUSTOMIZATIONS / kind / "health_test.yaml"
    return list((yaml.safe_load(path.read_text()) or {}).get("tests") or []) if path.exists() else []


def dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=120)


# Order of the stages in health_test.yaml: the life of an object, then the ways it can need a human.
STAGE_ORDER = (
    "created-no-status", "obtaining-token", "rolling-out", "ready", "rotating", "generation-not-observed",
    "snyk-unreachable", "terminating", "key-refused", "key-secret-missing", "connection-key-refused",
    "connection-not-found", "source-secret-missing", "invalid-given-token", "secret-owned-by-someone-else",
    "org-not-found", "integration-not-found",
)  # fmt: skip


def _stage_rank(entry: Obj) -> tuple[int, str]:
    stem = Path(entry["inputPath"]).stem
    return (STAGE_ORDER.index(stem) if stem in STAGE_ORDER else len(STAGE_ORDER), stem)


def write_health_capture(stage: Stage, normalized: Obj) -> None:
    """Write testdata/<stage>.yaml and its health_test.yaml entry (the expectation read from its conditions)."""
    kind_dir = CUSTOMIZATIONS / stage.kind
    (kind_dir / "testdata").mkdir(parents=True, exist_ok=True)
    input_path = f"testdata/{stage.name}.yaml"
    (kind_dir / input_path).write_text(f"# Captured from a live {stage.kind} by {_CAPTURED_BY}.\n" + dump(normalized))
    expected = expected_health(normalized)
    assert expected["status"] == stage.health
    tests = [t for t in _health_tests(stage.kind) if t["inputPath"] != input_path]
    tests.append({"healthStatus": expected, "inputPath": input_path})
    tests.sort(key=_stage_rank)
    header = f"# Expectations for the captured testdata; written by {_CAPTURED_BY} with SBO_UPDATE_TESTDATA=1.\n"
    (kind_dir / "health_test.yaml").write_text(header + dump({"tests": tests}))


def write_action_capture(name: str, normalized: Obj, *, rotated: bool) -> None:
    """actions/testdata/<name>.yaml and, for inputs of the rotate test, <name>-rotated.yaml: the same object with the
    annotation set to the test clock (built here, not by the action, so the action is checked against it)."""
    testdata = CUSTOMIZATIONS / "BrokerToken" / "actions" / "testdata"
    testdata.mkdir(parents=True, exist_ok=True)
    (testdata / f"{name}.yaml").write_text(
        f"# Captured from a live BrokerToken by {_CAPTURED_BY}.\n" + dump(normalized)
    )
    if rotated:
        expected = copy.deepcopy(normalized)
        expected["metadata"].setdefault("annotations", {})[ROTATE_ANNOTATION] = TEST_CLOCK
        text = f"# {name}.yaml after the rotate action at {TEST_CLOCK} (argo-lua-check test's clock).\n" + dump(
            expected
        )
        (testdata / f"{name}-rotated.yaml").write_text(text)


_CAPTURED_BY = "tests/integration/test_gitops_health.py"


# ---- merge patches, as Argo CD applies an action's result ----


def merge_patch(before: Any, after: Any) -> Any:
    """The JSON merge patch (RFC 7386) from `before` to `after`, as Argo CD computes it to apply an action."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    patch: Obj = {}
    for key in before.keys() - after.keys():
        patch[key] = None
    for key, value in after.items():
        if key not in before:
            patch[key] = value
        elif before[key] != value:
            patch[key] = merge_patch(before[key], value)
    return patch


# ---- every version the API server publishes ----


@dataclasses.dataclass(frozen=True)
class Source:
    plural: str
    namespace: str | None = None  # None: cluster-scoped
    label_selector: str | None = None


class Recorder:
    """Watches our objects in a thread and keeps every version the API server sends, so a stage that lasts one
    status write is still seen, and every version can be checked (no Stalled and Reconciling at once)."""

    def __init__(self, kubeconfig: Path, sources: list[Source]) -> None:
        self._api = config.new_client_from_config(config_file=str(kubeconfig))
        self._sources = sources
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self.seen: list[Obj] = []
        self.errors: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in sources]

    def __enter__(self) -> Recorder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._api.close()

    def _run(self, source: Source) -> None:
        objects = client.CustomObjectsApi(self._api)
        resource_version: str | None = None
        while not self._stop.is_set():
            kwargs: dict[str, Any] = {"timeout_seconds": 2, "_request_timeout": 10}
            if resource_version:
                kwargs["resource_version"] = resource_version
            if source.label_selector:
                kwargs["label_selector"] = source.label_selector
            function, args = _lister(objects, source)
            try:
                for event in watch.Watch().stream(function, *args, **kwargs):
                    obj = event["object"]
                    if event["type"] == "ERROR":  # an expired resourceVersion: start again from now
                        resource_version = None
                        break
                    resource_version = obj["metadata"]["resourceVersion"]
                    with self._changed:
                        self.seen.append(copy.deepcopy(obj))
                        self._changed.notify_all()
                    if self._stop.is_set():
                        break
            except ApiException as error:
                if error.status != 410:
                    self.errors.append(f"{source.plural}: {error.status} {error.reason}")
                    time.sleep(0.5)
                resource_version = None
            except (urllib3.exceptions.HTTPError, OSError) as error:  # a dropped watch connection: reconnect
                self.errors.append(f"{source.plural}: {type(error).__name__}")

    def first(self, predicate: Callable[[Obj], bool], *, timeout: float, what: str) -> Obj:
        """The first recorded version satisfying `predicate`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((obj for obj in self.seen if predicate(obj)), None)
                if found is not None:
                    return copy.deepcopy(found)
                left = deadline - time.monotonic()
                if left <= 0:
                    last = [(o["metadata"]["name"], (o.get("status") or {}).get("conditions")) for o in self.seen[-3:]]
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last versions: {last}")
                self._changed.wait(timeout=min(left, 0.5))

    def versions(self) -> list[Obj]:
        with self._changed:
            return list(self.seen)


def _lister(objects: client.CustomObjectsApi, source: Source) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """The list function a watch of `source` streams, and its positional arguments."""
    if source.namespace is None:
        return objects.list_cluster_custom_object, (GROUP, VERSION, source.plural)
    return objects.list_namespaced_custom_object, (GROUP, VERSION, source.namespace, source.plural)


def named(name: str, test: Callable[[Obj], bool]) -> Callable[[Obj], bool]:
    return lambda obj: obj["metadata"]["name"] == name and test(obj)
