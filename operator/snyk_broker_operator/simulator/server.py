"""Starting and stopping the simulator: an async context manager, a thread-backed variant, and the CLI loop.

- :func:`start_simulator` serves on the caller's event loop (pytest-asyncio tests).
- :class:`SimulatorThread` serves on its own loop in a background thread (synchronous tests, or tests that
  run the operator in another process).
- :func:`run_forever` is what ``snyk-broker-operator simulate`` runs: serve until SIGTERM or SIGINT.

All three build a :class:`.context.Simulation` from a seed and serve :func:`.app.build_app` with aiohttp's
access log off (paths carry no tokens, but nothing about a request is logged beyond the call log's view).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from snyk_broker_operator.simulator import app, ratelimit, seed
from snyk_broker_operator.simulator.admin import ADMIN_PREFIX
from snyk_broker_operator.simulator.context import Simulation

logger = logging.getLogger(__name__)

SeedSource = seed.Seed | Mapping[str, Any] | str | os.PathLike[str]
"""A parsed seed, a seed document (as from YAML), or the path of a seed file."""

DEFAULT_HOST = "127.0.0.1"
_SHUTDOWN_TIMEOUT_SECONDS = 5.0
_THREAD_START_TIMEOUT_SECONDS = 30.0


def resolve_seed(source: SeedSource) -> seed.Seed:
    if isinstance(source, seed.Seed):
        return source
    if isinstance(source, Mapping):
        return seed.parse_seed(source)
    return seed.load_seed(source)


@dataclasses.dataclass(frozen=True)
class RunningSimulator:
    """A simulator that is serving: where to reach it, and its state for in-process inspection."""

    host: str
    port: int
    simulation: Simulation

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The v1 API base, ending in ``/v1`` (what a SnykConnection's ``apiUrl`` points at)."""
        return self.root_url + app.API_PREFIX

    @property
    def admin_url(self) -> str:
        """The admin API base, ending in ``/_sim``."""
        return self.root_url + ADMIN_PREFIX


@contextlib.asynccontextmanager
async def start_simulator(
    seed_source: SeedSource,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    random_seed: int | None = None,
    rate_limit: int | None = None,
    # Injected by tests on this loop: the per-key rate limit then counts time on the test's fake clock.
    rate_limit_clock: ratelimit.MonotonicClock = time.monotonic,
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator on the running loop; ``port=0`` picks a free port (read it from the result)."""
    simulation = Simulation.create(
        resolve_seed(seed_source), random_seed=random_seed, rate_limit=rate_limit, rate_limit_clock=rate_limit_clock
    )
    runner = web.AppRunner(app.build_app(simulation), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        logger.info("simulator serving %d orgs on %s:%d", len(simulation.world.orgs), host, bound_port)
        yield RunningSimulator(host=host, port=bound_port, simulation=simulation)
    finally:
        await runner.cleanup()


class SimulatorThread:
    """A simulator on its own event loop in a daemon thread: ``start()`` returns once it is listening.

    Usage::

        with SimulatorThread("seed.yaml", random_seed=1) as simulator:
            httpx.get(simulator.base_url + "/user/me", headers={"Authorization": "token ..."})
    """

    def __init__(
        self,
        seed_source: SeedSource,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        random_seed: int | None = None,
        rate_limit: int | None = None,
    ) -> None:
        # Parse here, so a bad seed fails in the caller's thread with the caller's traceback.
        self._seed = resolve_seed(seed_source)
        self._host = host
        self._port = port
        self._random_seed = random_seed
        self._rate_limit = rate_limit
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._running: RunningSimulator | None = None
        self._failure: BaseException | None = None

    @property
    def running(self) -> RunningSimulator:
        if self._running is None:
            raise RuntimeError("the simulator thread is not running; call start() first")
        return self._running

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def admin_url(self) -> str:
        return self.running.admin_url

    def start(self) -> RunningSimulator:
        if self._thread is not None:
            raise RuntimeError("the simulator thread was already started")
        self._thread = threading.Thread(target=self._run, name="snyk-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_THREAD_START_TIMEOUT_SECONDS):
            raise RuntimeError("the simulator thread did not start listening in time")
        if self._failure is not None:
            raise RuntimeError("the simulator thread failed to start") from self._failure
        return self.running

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop_requested is not None:
            # The loop is already closed if serving failed; then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop_requested.set)
        self._thread.join()
        self._thread = None
        self._running = None

    def __enter__(self) -> SimulatorThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(); the thread must not die silently
            self._failure = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        async with start_simulator(
            self._seed,
            host=self._host,
            port=self._port,
            random_seed=self._random_seed,
            rate_limit=self._rate_limit,
        ) as running:
            self._running = running
            self._ready.set()
            await self._stop_requested.wait()


def run_forever(
    *,
    seed_path: str | os.PathLike[str],
    announce: Callable[[str], None],
    host: str = DEFAULT_HOST,
    port: int = 0,
    random_seed: int | None = None,
    rate_limit: int | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; ``announce`` gets the one ``simulator listening on <url>`` line.

    Raises :class:`.seed.SeedError` for a bad seed and :class:`OSError` when the address cannot be bound,
    both before anything is announced.
    """
    seed_doc = seed.load_seed(seed_path)
    asyncio.run(
        _serve_until_signalled(
            seed_doc, announce=announce, host=host, port=port, random_seed=random_seed, rate_limit=rate_limit
        )
    )


async def _serve_until_signalled(
    seed_doc: seed.Seed,
    *,
    announce: Callable[[str], None],
    host: str,
    port: int,
    random_seed: int | None,
    rate_limit: int | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with start_simulator(
        seed_doc, host=host, port=port, random_seed=random_seed, rate_limit=rate_limit
    ) as running:
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        try:
            announce(f"simulator listening on {running.base_url}")
            await stop.wait()
        finally:
            for signal_number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signal_number)
    logger.info("simulator stopped")
