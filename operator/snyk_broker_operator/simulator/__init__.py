"""A Snyk v1 API simulator: a real HTTP server for tests and demos, used only when pointed at.

It serves the broker-token endpoints of ``https://api.snyk.io/v1`` (auth, orgs, integrations and their
settings, add integration, enable broker, provision/switch token, clone) over an in-memory world read from a
seed file, with per-key rate limiting, fault injection and an unauthenticated admin API under ``/_sim`` that
reports every token issued and every call served. See ``docs/snyk-simulator.md``.

Modules: :mod:`.seed` (seed model) -> :mod:`.state` (the world; :mod:`.integration_settings` for each
integration's settings) -> :mod:`.operations` (v1 semantics) and :mod:`.views` (the admin view); :mod:`.faults`
and :mod:`.ratelimit` (per-request policies); :mod:`.names` and :mod:`.errors` (shared vocabulary);
:mod:`.context`, :mod:`.app`, :mod:`.admin` (HTTP); :mod:`.server` (start/stop). It shares no code with the
operator (an import-linter contract).
"""

from snyk_broker_operator.simulator.context import Simulation
from snyk_broker_operator.simulator.names import EndpointName, TokenKind, TokenOrigin
from snyk_broker_operator.simulator.seed import Seed, SeedError, load_seed, parse_seed, shipped_seed_path
from snyk_broker_operator.simulator.server import (
    RunningSimulator,
    SeedSource,
    SimulatorThread,
    run_forever,
    start_simulator,
)
from snyk_broker_operator.simulator.state import fingerprint

__all__ = [
    "EndpointName",
    "RunningSimulator",
    "Seed",
    "SeedError",
    "SeedSource",
    "Simulation",
    "SimulatorThread",
    "TokenKind",
    "TokenOrigin",
    "fingerprint",
    "load_seed",
    "parse_seed",
    "run_forever",
    "shipped_seed_path",
    "start_simulator",
]
