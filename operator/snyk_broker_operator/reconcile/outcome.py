"""How a reconcile ended, as a value: converged, stalled (the user must act) or failed (retry with backoff)."""

from __future__ import annotations

import dataclasses

from snyk_broker_operator.models.enums import ConditionReason
from snyk_broker_operator.reconcile.actions import Stall


@dataclasses.dataclass(frozen=True)
class Failure:
    """A step that failed for a reason that may pass (Snyk unavailable, rate limited, a conflict on write)."""

    reason: ConditionReason
    message: str
    retry_after: float | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    stall: Stall | None = None
    failure: Failure | None = None
    # True when the reconcile stopped with steps left (a step budget), so another pass is due at once.
    pending: bool = False
    # Look again in this many seconds (a rollout waiting for the token to settle, bridges starting); copied from the
    # decision that ended the pass.
    wait_seconds: float | None = None

    @property
    def settled(self) -> bool:
        return self.stall is None and self.failure is None and not self.pending

    @property
    def kind(self) -> str:
        """One word for how the pass ended, for metrics and logs: stalled, failed, pending, waiting or converged."""
        if self.stall is not None:
            return "stalled"
        if self.failure is not None:
            return "failed"
        if self.pending:
            return "pending"
        return "waiting" if self.wait_seconds is not None else "converged"
