"""Crash points for tests: the runner arms the names in SBO_FAILPOINTS=name[,name], and the process SIGKILLs itself
when a step reaches one of them.

This is how the crash-safety tests stop the operator at an exact step of a rotation (a real SIGKILL: no cleanup,
no graceful shutdown). The environment is read once, at start-up; unset, as in production, the hook does nothing.
The in-process tests pass their own hook (one that raises) through `Dependencies.failpoint`.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping

from snyk_broker_operator.engine.context import no_failpoint
from snyk_broker_operator.engine.ports import Failpoint

logger = logging.getLogger(__name__)
ENV = "SBO_FAILPOINTS"
# Every crash point a step can reach, in rotation order.
NAMES = ("after-provision", "after-bridges", "after-switch", "mid-rollout")


def from_environment(environ: Mapping[str, str]) -> Failpoint:
    armed = frozenset(item.strip() for item in environ.get(ENV, "").split(",") if item.strip())
    if not armed:
        return no_failpoint

    def hit(name: str) -> None:
        if name in armed:
            logger.warning("Failpoint %s reached: killing the operator (SIGKILL)", name)
            os.kill(os.getpid(), signal.SIGKILL)

    return hit
