"""Pure decisions: from what was observed (and the time, passed in) to a plan, a status, events and a schedule.

No I/O, no clock, no framework: an import-linter contract keeps kopf, kubernetes, httpx, asyncio, time, os, random
and secrets out. The engine calls the entry points below and nothing deeper:

    desired.from_resource -> plan.decide -> (engine acts; custody.* says what custody becomes; events.for_step)
    -> status.compute_status -> events.for_pass -> schedule.next_check_in

`manifests` builds the objects the engine writes and parses the Secrets it reads; `actions` are the steps.
"""

from snyk_broker_operator.reconcile import actions, connection, custody, manifests
from snyk_broker_operator.reconcile.actions import Decision, Stall
from snyk_broker_operator.reconcile.consumers import Workload, bridges_of, referenced_secrets, select_consumers
from snyk_broker_operator.reconcile.desired import (
    Desired,
    SourceKind,
    bridge_name,
    custody_secret_name,
    from_resource,
    rotation_secret_name,
)
from snyk_broker_operator.reconcile.events import Notice, StepFact, for_pass, for_step
from snyk_broker_operator.reconcile.observed import Custody, Integration, Observed, SecretState
from snyk_broker_operator.reconcile.outcome import Failure, Outcome
from snyk_broker_operator.reconcile.plan import decide
from snyk_broker_operator.reconcile.rotation import RotationRecord
from snyk_broker_operator.reconcile.schedule import after_invalid_spec, next_check_in
from snyk_broker_operator.reconcile.status import compute_status, first_status, invalid

__all__ = [
    "Custody",
    "Decision",
    "Desired",
    "Failure",
    "Integration",
    "Notice",
    "Observed",
    "Outcome",
    "RotationRecord",
    "SecretState",
    "SourceKind",
    "Stall",
    "StepFact",
    "Workload",
    "actions",
    "after_invalid_spec",
    "bridge_name",
    "bridges_of",
    "compute_status",
    "connection",
    "custody",
    "custody_secret_name",
    "decide",
    "first_status",
    "for_pass",
    "for_step",
    "from_resource",
    "invalid",
    "manifests",
    "next_check_in",
    "referenced_secrets",
    "rotation_secret_name",
    "select_consumers",
]
