"""Benchmark: the service gap of a rotation with the real Snyk Broker, per strategy (Bridge, InPlace, Bridge with the
operator killed at each step), from the end-to-end tests in tests/integration/real_broker.

Runs every test there (`pytest --real-broker-all`) --runs times on the local control plane (started by the session
fixture when it is down), each rotation sampled every 10 ms at the broker server (tests/support/gap_monitor.py), and
collects what each rotation test recorded: the longest gap (ms) of the token Snyk treats as current, the simulator
samples, the probes judged and how many failed. Writes bench/results/rotation_gap.json, one line per test on stdout.
Run: .venv/bin/python bench/rotation_gap.py [--runs N]   (or `make bench-rotation-gap`)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "rotation_gap.json"
SETUP = (
    "local control plane; simulator; snyk-broker 5.22.14 server and clients (2 replicas of the sample broker client "
    "on the process node); the current token probed every 10 ms at the broker server (connection-status and a "
    "request relayed to an origin); gap = longest time the current token had no good probe"
)


def run_tests(results: Path) -> int:
    env = {**os.environ, "SBO_GAP_RESULTS": str(results)}
    tests = str(REPO / "tests" / "integration" / "real_broker")
    # The whole directory (every real-broker test must pass for a run to count); the rotation tests record figures.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests, "--real-broker-all"]
    command += ["--durations=12"]
    return subprocess.run(command, cwd=REPO, env=env, check=False).returncode


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_test: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_test[row["test"]].append(row)
    summary: dict[str, Any] = {}
    for test, runs in sorted(by_test.items()):
        gaps = [float(r["longest_gap_ms"]) for r in runs]
        summary[test] = {
            "strategy": runs[0]["strategy"],
            "runs": len(runs),
            "longestGapMs": gaps,
            "worstGapMs": max(gaps),
            "gapsOver150ms": sum(int(r["gaps_over_150ms"]) for r in runs),
            "samples": [int(r["samples"]) for r in runs],
            "probesOfCurrentToken": [int(r["probes_of_current"]) for r in runs],
            "failedProbes": [int(r["failed_probes"]) for r in runs],
            "longestSamplingPauseMs": [float(r["longest_sampling_pause_ms"]) for r in runs],
            "durationSeconds": [float(r["duration_s"]) for r in runs],
        }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results = Path(work) / "gaps.jsonl"
        codes = [run_tests(results) for _ in range(args.runs)]
        rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    summary = summarise(rows)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "rotation_gap",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "setup": SETUP,
                "pytestExitCodes": codes,
                "tests": summary,
            },
            indent=2,
        )
        + "\n"
    )
    for test, figures in summary.items():
        print(f"{test}: worst gap {figures['worstGapMs']} ms over {figures['runs']} runs, samples {figures['samples']}")
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
