"""Everything a pass needs from the outside world, as ports, built once by `runner` and passed in (no globals)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from snyk_broker_operator.engine.context import no_failpoint
from snyk_broker_operator.engine.ports import (
    CustomObjects,
    EventRecorder,
    Failpoint,
    SecretStore,
    SnykConnections,
    Workloads,
)
from snyk_broker_operator.engine.unsaved import UnsavedGrants


def utc_now() -> datetime:
    """The time as the operator records it: UTC, whole seconds (what an RFC 3339 annotation keeps)."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclasses.dataclass(frozen=True)
class Dependencies:
    secrets: SecretStore
    objects: CustomObjects
    events: EventRecorder
    connections: SnykConnections
    workloads: Workloads
    now: Callable[[], datetime] = utc_now
    # Crash points for the crash-safety tests (engine.failpoints); does nothing unless the runner arms it.
    failpoint: Failpoint = no_failpoint
    # Shared by every pass of this process: a provisional token Snyk issued but the API server refused to store.
    unsaved: UnsavedGrants = dataclasses.field(default_factory=UnsavedGrants)
