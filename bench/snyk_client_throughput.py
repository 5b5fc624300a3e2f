"""Benchmark: SnykClient calls per second against the in-process simulator (no injected latency).

Measures get-integration-by-type and list-integrations, one call at a time and with 16 in flight, through the
full client stack (limiter, retry wrapper, error mapping, pydantic parsing, httpx over 127.0.0.1). The simulator
serves on the same event loop, so the figures are for client + server sharing one CPU core: a floor for the
client's own cost, not a prediction of Snyk's latency. Rate limits are set far above what the run can reach.

Writes bench/results/snyk_client.json and prints a one-line summary.
Run: .venv/bin/python bench/snyk_client_throughput.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

import snyk_broker_operator
from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.simulator import start_simulator

RESULTS = Path(__file__).resolve().parent / "results" / "snyk_client.json"
GROUP = "6e000000-0000-4000-8000-000000000001"
ORG = "0e000000-0000-4000-8000-00000000000a"
KEY = SecretStr("bench-key")
CONCURRENCY = 16
UNREACHABLE_RATE = 100_000_000  # requests per minute: neither side's limiter ever waits

SEED: dict[str, Any] = {
    "rateLimitPerMinute": UNREACHABLE_RATE,
    "groups": [
        {
            "id": GROUP,
            "name": "bench",
            "orgs": [
                {
                    "id": ORG,
                    "name": "bench",
                    "integrations": [
                        {"id": f"1e000000-0000-4000-8000-{index:012d}", "type": kind, "brokerEnabled": True}
                        for index, kind in enumerate(["github", "gitlab", "bitbucket-server", "azure-repos"])
                    ],
                }
            ],
        }
    ],
    "apiKeys": [{"key": KEY.get_secret_value(), "group": GROUP}],
}


async def measure(call: Callable[[], Awaitable[object]], *, calls: int, concurrency: int) -> float:
    """Seconds taken to make ``calls`` calls with ``concurrency`` workers."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run(calls: int) -> dict[str, Any]:
    results = []
    async with start_simulator(SEED, random_seed=1) as sim:
        limiter = snyk.LimiterRegistry().for_key(KEY, requests_per_minute=UNREACHABLE_RATE, max_concurrency=CONCURRENCY)
        async with snyk.SnykClient(api_key=KEY, api_url=sim.base_url, limiter=limiter) as client:
            scenarios: dict[str, Callable[[], Awaitable[object]]] = {
                "get_integration_by_type": lambda: client.get_integration_by_type(
                    org_id=ORG, integration_type="gitlab"
                ),
                "list_integrations": lambda: client.list_integrations(org_id=ORG),
            }
            for name, call in scenarios.items():
                await measure(call, calls=min(200, calls), concurrency=CONCURRENCY)  # warm up connections
                for concurrency in (1, CONCURRENCY):
                    seconds = await measure(call, calls=calls, concurrency=concurrency)
                    results.append(
                        {
                            "call": name,
                            "concurrency": concurrency,
                            "calls": calls,
                            "seconds": round(seconds, 4),
                            "callsPerSecond": round(calls / seconds, 1),
                        }
                    )
    return {
        "benchmark": "snyk_client_throughput",
        "operatorVersion": snyk_broker_operator.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "recordedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "setup": "simulator on the same event loop, 127.0.0.1, no injected latency, rate limits out of reach",
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per scenario (default 2000)")
    report = asyncio.run(run(parser.parse_args().calls))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    summary = ", ".join(
        f"{item['call']} x{item['concurrency']}: {item['callsPerSecond']:.0f}/s" for item in report["results"]
    )
    print(f"snyk client throughput ({RESULTS.name}): {summary}")


if __name__ == "__main__":
    main()
