"""When a BrokerToken is looked at again: one pure function of how the pass ended, its new status, and the time.

A watch event (the object, its Secrets, its consumers) wakes the loop sooner; this is the delay when nothing does.
"""

from __future__ import annotations

import math
from datetime import datetime

from snyk_broker_operator.models import BrokerTokenStatus
from snyk_broker_operator.models.enums import ConsumerState
from snyk_broker_operator.reconcile.desired import SourceKind
from snyk_broker_operator.reconcile.outcome import Outcome

# How often a converged BrokerToken is looked at again anyway (reads only), e.g. for a changed source Secret.
RESYNC_SECONDS = 300.0
# While consumers roll out, look again this often even if no workload event arrives.
ROLLING_RESYNC_SECONDS = 10.0
# A given token Secret is the user's, so it is not labelled for the watch unless they chose to: poll it.
GIVEN_SECRET_RESYNC_SECONDS = 30.0
# The shortest wait: a step that waits on the cluster is never polled in a hot loop.
MIN_WAIT_SECONDS = 0.5
# Retry-After below this is rounded up: Snyk's own hints are whole seconds.
MIN_RETRY_AFTER_SECONDS = 1.0
# A failure is retried after 5 s, 10 s, 20 s ... capped at 5 minutes: never a hot loop, never forgotten.
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0


def backoff_seconds(failed_attempts: int) -> float:
    """The backoff after `failed_attempts` failed passes in a row (none: no wait)."""
    if failed_attempts <= 0:
        return 0.0
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * math.pow(2, failed_attempts - 1))


def next_check_in(*, outcome: Outcome, status: BrokerTokenStatus, source: SourceKind, now: datetime) -> float:
    """Seconds until the next pass is due, unless something kicks the loop sooner."""
    if outcome.pending:
        return 0.0
    if outcome.wait_seconds is not None:  # a stall that is polled, or a step waiting on the cluster
        return max(outcome.wait_seconds, MIN_WAIT_SECONDS)
    if outcome.settled:
        if any(c.state != ConsumerState.CURRENT for c in status.consumers or ()):
            return ROLLING_RESYNC_SECONDS
        resync = GIVEN_SECRET_RESYNC_SECONDS if source is SourceKind.EXISTING_SECRET else RESYNC_SECONDS
        if status.next_rotation_at is not None:
            # Wake up when the next scheduled rotation falls due (a moment after, so that it is due).
            due_in = (status.next_rotation_at - now).total_seconds() + MIN_WAIT_SECONDS
            resync = min(resync, max(due_in, MIN_WAIT_SECONDS))
        return resync
    if outcome.failure is not None and outcome.failure.retry_after:
        return max(outcome.failure.retry_after, MIN_RETRY_AFTER_SECONDS)
    return backoff_seconds(status.failed_attempts or 1)


def after_invalid_spec() -> float:
    """An object the models refuse waits for its next edit (which kicks the loop); until then, look rarely."""
    return BACKOFF_CAP_SECONDS
