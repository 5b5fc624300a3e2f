"""How a pass ended, as a value: whether it settled, and the one word that names it."""

from __future__ import annotations

import pytest

from snyk_broker_operator.models.enums import ConditionReason
from snyk_broker_operator.reconcile.actions import Decision, RollConsumer, Stall
from snyk_broker_operator.reconcile.outcome import Failure, Outcome

STALL = Stall(ConditionReason.SECRET_CONFLICT, "not ours")
FAILURE = Failure(ConditionReason.SNYK_UNAVAILABLE, "503", retry_after=3.0)


@pytest.mark.parametrize(
    ("outcome", "settled", "kind"),
    [
        (Outcome(), True, "converged"),
        (Outcome(wait_seconds=2.0), True, "waiting"),
        (Outcome(wait_seconds=0.0), True, "waiting"),
        (Outcome(pending=True), False, "pending"),
        (Outcome(pending=True, wait_seconds=2.0), False, "pending"),
        (Outcome(failure=FAILURE), False, "failed"),
        (Outcome(failure=FAILURE, pending=True), False, "failed"),
        (Outcome(stall=STALL), False, "stalled"),
        (Outcome(stall=STALL, wait_seconds=2.0), False, "stalled"),
        (Outcome(stall=STALL, failure=FAILURE, pending=True), False, "stalled"),
    ],
    ids=[
        "a pass with nothing left to do settled and converged",
        "a pass waiting on the cluster settled, waiting",
        "a wait of zero seconds is still a wait",
        "a pass with steps left did not settle",
        "steps left win over a wait",
        "a failed step did not settle",
        "a failure wins over steps left",
        "a stall did not settle",
        "a polled stall is still a stall",
        "a stall wins over everything else",
    ],
)
def test_how_a_pass_ended(outcome: Outcome, settled: bool, kind: str) -> None:
    assert (outcome.settled, outcome.kind) == (settled, kind)


@pytest.mark.parametrize(
    ("decision", "converged"),
    [
        (Decision(), True),
        (Decision(actions=(RollConsumer(kind="Deployment", name="b", fingerprint="sha256:000000000000"),)), False),
        (Decision(stall=STALL), False),
        (Decision(wait_seconds=2.0), False),
    ],
    ids=[
        "a decision with no action, stall or wait is converged",
        "a decision with an action is not converged",
        "a decision with a stall is not converged",
        "a decision that waits is not converged",
    ],
)
def test_a_decision_is_converged_only_when_it_asks_for_nothing(decision: Decision, converged: bool) -> None:
    assert decision.converged is converged
