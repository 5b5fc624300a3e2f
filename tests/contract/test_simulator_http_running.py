"""Running the simulator the two synchronous ways: the `simulate` CLI as a process, and SimulatorThread."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from snyk_broker_operator.simulator import SimulatorThread, shipped_seed_path

DEMO_KEY = "demo-api-key-0000"
LISTENING = re.compile(r"^simulator listening on (http://127\.0\.0\.1:(\d+)/v1)\n$")
START_TIMEOUT_SECONDS = 60.0


def _simulate(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "snyk_broker_operator", "simulate", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
    assert readable, "the simulator printed nothing"
    return process.stdout.readline()


@pytest.fixture
def demo_process() -> Iterator[subprocess.Popen[str]]:
    process = _simulate("--host", "127.0.0.1", "--port", "0", "--seed", str(shipped_seed_path("demo-seed.yaml")))
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_the_cli_prints_one_listening_line_serves_and_stops_on_sigterm(demo_process: subprocess.Popen[str]) -> None:
    line = _read_line(demo_process)
    match = LISTENING.match(line)
    assert match, line
    base_url = match.group(1)

    response = httpx.get(base_url + "/user/me", headers={"Authorization": f"token {DEMO_KEY}"})
    demo_process.send_signal(signal.SIGTERM)
    stdout, _ = demo_process.communicate(timeout=START_TIMEOUT_SECONDS)

    assert response.status_code == 200
    assert [org["name"] for org in response.json()["orgs"]] == ["platform", "team-a", "team-b"]
    assert demo_process.returncode == 0
    assert stdout == ""  # exactly one line in all


def test_the_cli_stops_cleanly_on_sigint(demo_process: subprocess.Popen[str]) -> None:
    assert LISTENING.match(_read_line(demo_process))

    demo_process.send_signal(signal.SIGINT)
    demo_process.communicate(timeout=START_TIMEOUT_SECONDS)

    assert demo_process.returncode == 0


def test_the_cli_refuses_a_bad_seed_with_a_message(tmp_path: Path) -> None:
    seed_file = tmp_path / "bad.yaml"
    seed_file.write_text("groups:\n  - id: not-a-uuid\n    name: x\n", encoding="utf-8")

    process = _simulate("--seed", str(seed_file))
    stdout, stderr = process.communicate(timeout=START_TIMEOUT_SECONDS)

    assert process.returncode == 2
    assert stdout == ""
    assert "groups[0].id" in stderr


def test_the_cli_uses_the_rate_limit_and_random_seed_options() -> None:
    def first_token() -> tuple[str, list[int]]:
        process = _simulate("--random-seed", "4", "--rate-limit", "2")
        try:
            match = LISTENING.match(_read_line(process))
            assert match
            with httpx.Client(
                base_url=match.group(1), headers={"Authorization": "token example-key-with-group-access"}
            ) as client:
                enabled = client.put(
                    "/org/3f0b5c1e-8a4d-4e2f-9b6a-0000000000a1/integrations/3f0b5c1e-8a4d-4e2f-9b6a-0000000001a1",
                    json={"type": "github", "broker": {"enabled": True}},
                )
                statuses = [client.get("/user/me").status_code for _ in range(2)]
            return enabled.json()["brokerToken"], statuses
        finally:
            process.terminate()
            process.communicate(timeout=START_TIMEOUT_SECONDS)

    token, statuses = first_token()

    assert statuses == [200, 429]  # the default example seed allows 2000/min; --rate-limit 2 overrides it
    assert first_token()[0] == token


def test_simulator_thread_serves_synchronous_clients_until_stopped() -> None:
    with SimulatorThread(shipped_seed_path("demo-seed.yaml"), random_seed=2) as simulator:
        base_url = simulator.base_url
        me = httpx.get(base_url + "/user/me", headers={"Authorization": f"token {DEMO_KEY}"})
        state = httpx.get(simulator.admin_url + "/state")

    assert me.status_code == 200
    assert len(state.json()["calls"]) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/user/me")


def test_simulator_thread_reports_a_port_it_cannot_bind() -> None:
    with SimulatorThread(shipped_seed_path()) as first:
        second = SimulatorThread(shipped_seed_path(), port=first.running.port)
        with pytest.raises(RuntimeError, match="failed to start") as caught:
            second.start()
        second.stop()

    assert isinstance(caught.value.__cause__, OSError)
