"""The Argo CD customizations pass their own tests on gopher-lua with argocd-cm's restricted libraries, agree with
kstatus on every captured object, and the runner reproduces what Argo CD's Lua VM allows and refuses.

No cluster: the testdata are captures committed by tests/integration/test_gitops_health.py.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.cluster import REPO
from support.tools import tool_path

GROUP_DIR = REPO / "deploy" / "argocd" / "resource_customizations" / "snykbroker.dev"
KINDS = ("BrokerToken", "SnykConnection", "ClusterSnykConnection")
ROTATE = GROUP_DIR / "BrokerToken" / "actions" / "rotate" / "action.lua"
READY = GROUP_DIR / "BrokerToken" / "testdata" / "ready.yaml"
# Argo CD's health for an object and what kstatus (Flux) must say of the same object. Progressing covers the two
# places kstatus differs by design: an object being deleted (Terminating) and one with no status yet (Current).
KSTATUS_FOR = {"Healthy": {"Current"}, "Degraded": {"Failed"}, "Progressing": {"InProgress", "Terminating", "Current"}}


def argo_lua_check(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool_path("argo-lua-check")), *args], input=stdin, capture_output=True, text=True, check=False, timeout=30
    )


def health_tests(kind: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load((GROUP_DIR / kind / "health_test.yaml").read_text())["tests"])


def action_tests() -> dict[str, Any]:
    return dict(yaml.safe_load((GROUP_DIR / "BrokerToken" / "actions" / "action_test.yaml").read_text()))


@pytest.mark.parametrize("kind", KINDS)
def test_every_customization_passes_its_argo_cd_tests_with_restricted_libraries(kind: str) -> None:
    result = argo_lua_check("-restricted", "test", str(GROUP_DIR / kind))
    assert result.returncode == 0, result.stdout + result.stderr
    expected = len(health_tests(kind))
    if kind == "BrokerToken":
        expected += len(action_tests()["discoveryTests"]) + len(action_tests()["actionTests"])
    assert result.stdout.count("PASS ") == expected and "FAIL" not in result.stdout, result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_is_tested_and_every_health_is_covered(kind: str) -> None:
    tests = health_tests(kind)
    used = {t["inputPath"] for t in tests}
    present = {f"testdata/{path.name}" for path in (GROUP_DIR / kind / "testdata").glob("*.yaml")}
    assert used == present, f"untested: {present - used}, missing: {used - present}"
    assert {t["healthStatus"]["status"] for t in tests} >= {"Healthy", "Progressing", "Degraded"}


@pytest.mark.parametrize("kind", KINDS)
def test_argo_cd_and_kstatus_agree_on_every_captured_object(kind: str) -> None:
    tests = health_tests(kind)
    documents = "---\n".join((GROUP_DIR / kind / t["inputPath"]).read_text() for t in tests)
    result = subprocess.run(
        [str(tool_path("kstatus-check"))], input=documents, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(tests)
    for test, line in zip(tests, lines, strict=True):
        health = test["healthStatus"]
        assert line["status"] in KSTATUS_FOR[health["status"]], f"{test['inputPath']}: Argo CD {health}, kstatus {line}"
        if line["status"] == "Failed":  # Flux shows the same words as Argo CD: the Stalled condition's message
            assert line["message"] == health["message"], test["inputPath"]


def test_the_rotate_action_expectations_hold_only_at_the_test_clock() -> None:
    result = argo_lua_check("-restricted", "-now", "2030-01-01T00:00:00Z", "test", str(GROUP_DIR / "BrokerToken"))
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == len(action_tests()["actionTests"]) and all("action rotate" in f for f in failed), failed
    assert '"2030-01-01T00:00:00Z"' in result.stdout


def test_the_rotate_action_stamps_the_real_utc_time_to_the_second() -> None:
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    result = argo_lua_check("-restricted", "action", str(ROTATE), str(READY))
    after = datetime.datetime.now(datetime.UTC)
    assert result.returncode == 0, result.stderr
    stamped = json.loads(result.stdout)["metadata"]["annotations"]["snykbroker.dev/rotate-requested-at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamped), stamped
    at = datetime.datetime.strptime(stamped, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert before <= at <= after


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "script.lua"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize(
    ("body", "restricted_error"),
    [
        ('return {status = "Healthy", message = string.format("%d", 1)}', "with key 'format'"),
        ('return {status = "Healthy", message = os.date("!%Y")}', "with key 'date'"),
        ('return {status = "Healthy", message = tostring(math.floor(1.5))}', "with key 'floor'"),
    ],
    ids=["no string library", "no global os", "no math library"],
)
def test_restricted_scripts_get_only_what_argocd_cm_scripts_get(
    tmp_path: Path, body: str, restricted_error: str
) -> None:
    path = script(tmp_path, body)
    assert argo_lua_check("health", path, str(READY)).returncode == 0, "open libraries: the script works"
    restricted = argo_lua_check("-restricted", "health", path, str(READY))
    assert restricted.returncode == 1 and restricted_error in restricted.stderr, restricted.stderr


def test_an_invalid_status_is_unknown_and_a_runaway_script_is_stopped_after_a_second(tmp_path: Path) -> None:
    invalid = argo_lua_check("-restricted", "health", script(tmp_path, 'return {status = "Fine"}'), str(READY))
    assert invalid.returncode == 1
    assert json.loads(invalid.stdout) == {"status": "Unknown", "message": "Lua returned an invalid health status"}
    started = time.monotonic()
    looping = argo_lua_check("-restricted", "health", script(tmp_path, "while true do end"), str(READY))
    assert looping.returncode == 1 and "context deadline exceeded" in looping.stderr
    assert 0.9 < time.monotonic() - started < 5
