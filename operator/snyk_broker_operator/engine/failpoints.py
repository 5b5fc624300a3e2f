"""Crash points for tests: SBO_FAILPOINTS=name[,name] makes the process SIGKILL itself when it reaches one.

This is how the crash-safety tests stop the operator at an exact step of a rotation (a real SIGKILL: no cleanup,
no graceful shutdown). Unset, as in production, it does nothing.
"""

from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)
ENV = "SBO_FAILPOINTS"


def hit(name: str) -> None:
    armed = {item.strip() for item in os.environ.get(ENV, "").split(",") if item.strip()}
    if name in armed:
        logger.warning("Failpoint %s reached: killing the operator (SIGKILL)", name)
        os.kill(os.getpid(), signal.SIGKILL)
