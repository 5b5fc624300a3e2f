"""One pass over one BrokerToken: parse -> gather -> decide and act (repeat) -> status -> events -> at most one patch.

Every trigger runs this same function. It decides nothing itself: `reconcile` does, given what was gathered. It never
raises for a problem with the object or with Snyk (those become a Stalled or Reconciling condition and a delay
before the next attempt, through `engine.outcomes`); only a bug propagates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pydantic

from snyk_broker_operator import logs, reconcile
from snyk_broker_operator.adapters.kube.errors import KubeError, NotFound
from snyk_broker_operator.engine import executor, outcomes
from snyk_broker_operator.engine.context import SnykClientFactory, StepContext
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.models import BROKER_TOKEN_KIND, BROKER_TOKEN_PLURAL, BrokerToken, BrokerTokenStatus
from snyk_broker_operator.models.enums import ConditionReason
from snyk_broker_operator.reconcile import Desired, Failure, Notice, Observed, Outcome, actions

logger = logging.getLogger(__name__)

# Enough for resolve, enable, a handful of shares and the Secret; more means another pass, not a loop forever.
MAX_STEPS = 24


@dataclasses.dataclass(frozen=True)
class PassResult:
    """How a pass ended, for the loop that runs it."""

    # Seconds until the next pass is due unless something kicks the loop sooner.
    delay: float
    # Whether the pass wrote the status (a converged pass writes nothing).
    wrote_status: bool
    # How it ended, in one word (`Outcome.kind`).
    outcome: str
    # The status the object has now (None when the object could not be read): the next pass starts from it if the
    # watch has not delivered the write yet.
    status: BrokerTokenStatus | None = None


def _ignore(secret_name: str) -> None:
    """The default `reads_secret` hook: nobody needs to know."""


async def run_pass(
    body: Mapping[str, Any],
    deps: Dependencies,
    *,
    reads_secret: Callable[[str], None] = _ignore,
    last_status: BrokerTokenStatus | None = None,
) -> PassResult:
    """One pass. `reads_secret` is told, before any I/O, which Secret the consumers read, so that the caller can
    wake this object's loop when a workload reading it changes. `last_status` is the status the previous pass left
    stored: this loop is the only writer of the status, so it is the newest there is, while `body` may not show
    the last write yet (a pass that started from that older status would announce the same change twice)."""
    now = deps.now()
    try:
        resource = BrokerToken.model_validate(dict(body))
    except pydantic.ValidationError as error:
        wrote = await _report_invalid(body, error, deps, now)
        return PassResult(delay=reconcile.after_invalid_spec(), wrote_status=wrote, outcome="stalled")
    desired = reconcile.from_resource(resource)
    reads_secret(desired.secret_name)
    previous = last_status or resource.status
    if previous is None:
        # A new object shows it is being worked on before the first Snyk call, so that GitOps tools (kstatus) see
        # InProgress rather than a status-less "Current" while the token is obtained.
        first = reconcile.first_status(desired, now=now)
        wrote, stored = await _write_status(resource, first, deps)
        return PassResult(delay=0.0, wrote_status=wrote, outcome="pending", status=stored)
    resource = resource.model_copy(update={"status": previous})
    try:
        observed = await gather(desired, deps)
    except KubeError as error:
        # Nothing can be decided without the observations, and the status must not be recomputed without them
        # either: say so in the log and look again after the usual backoff.
        logger.warning("BrokerToken %s/%s: could not read its objects: %s", desired.namespace, desired.name, error)
        failed = Outcome(failure=Failure(ConditionReason.KUBERNETES_ERROR, str(error)))
        delay = reconcile.next_check_in(outcome=failed, status=previous, source=desired.source, now=now)
        return PassResult(delay=delay, wrote_status=False, outcome=failed.kind, status=previous)
    had_token = bool(previous.token_fingerprint)
    ctx = StepContext(
        desired=desired,
        secrets=deps.secrets,
        workloads=deps.workloads,
        now=now,
        failpoint=deps.failpoint,
        unsaved=deps.unsaved,
    )
    outcome, observed, notices = await converge(desired, observed, ctx, deps, had_token=had_token)
    new_status = reconcile.compute_status(
        desired=desired, observed=observed, outcome=outcome, previous=resource.status, now=now
    )
    notices += reconcile.for_pass(resource.status, new_status, outcome, rotating=observed.rotation is not None)
    # Events first: whoever sees a status can then also see the events that led to it.
    await _record_events(body, notices, deps)
    wrote, stored = await _write_status(resource, new_status, deps)
    # Converged passes log at DEBUG only: a quiet BrokerToken stays quiet in the log as well.
    logger.log(
        logging.INFO if notices or wrote or not outcome.settled else logging.DEBUG,
        "BrokerToken %s/%s: reconcile pass done (%s; %s)",
        desired.namespace,
        desired.name,
        _describe(outcome),
        "status written" if wrote else "status unchanged",
        extra=logs.object_ref(BROKER_TOKEN_KIND, desired.namespace, desired.name, desired.uid),
    )
    delay = reconcile.next_check_in(outcome=outcome, status=new_status, source=desired.source, now=now)
    return PassResult(delay=delay, wrote_status=wrote, outcome=outcome.kind, status=stored)


async def gather(desired: Desired, deps: Dependencies) -> Observed:
    """Read everything `decide` looks at: the operator's Secrets, the given Secret, and the namespace's workloads."""
    manifests = reconcile.manifests
    custody = await deps.secrets.read(desired.namespace, reconcile.custody_secret_name(desired.name))
    consumer = await deps.secrets.read(desired.namespace, desired.secret_name)
    source = None
    if desired.existing_secret is not None:
        ref = desired.existing_secret
        source = manifests.secret_state(await deps.secrets.read(desired.namespace, ref.name), key=ref.key)
    # Only the operator writes a rotation Secret, always labelled: when the watch has none, there is none (most
    # passes: no rotation runs), and the API server need not be asked.
    rotation_name = reconcile.rotation_secret_name(desired.name)
    rotation = await deps.secrets.read(desired.namespace, rotation_name, labelled=True)
    workloads = await deps.workloads.list(desired.namespace)
    return Observed(
        custody=manifests.parse_custody(custody),
        consumer=manifests.secret_state(consumer, key=desired.secret_key),
        source=source,
        consumers=reconcile.select_consumers(
            workloads, secret_name=desired.secret_name, selector=desired.consumer_selector
        ),
        rotation=manifests.parse_rotation(rotation, key=desired.secret_key),
        bridges=reconcile.bridges_of(workloads, broker_token_name=desired.name),
    )


async def converge(
    desired: Desired, observed: Observed, ctx: StepContext, deps: Dependencies, *, had_token: bool
) -> tuple[Outcome, Observed, list[Notice]]:
    """Decide, act, and decide again on the new observations until the decision is to stop; collect the events."""
    snyk = SnykClientFactory(
        lambda: deps.connections.client_for(
            kind=desired.connection_kind, name=desired.connection_name, namespace=desired.namespace
        )
    )
    notices: list[Notice] = []
    for _ in range(MAX_STEPS):
        decision = reconcile.decide(desired, observed, now=ctx.now)
        try:
            rolls = [a for a in decision.actions if isinstance(a, actions.RollConsumer)]
            if len(rolls) > 1 and len(rolls) == len(decision.actions):
                observed, rolled, failure = await _roll_together(rolls, observed, ctx, desired, had_token=had_token)
                notices += rolled
                if failure is not None:
                    raise failure
            else:
                for action in decision.actions:
                    landed = await executor.execute(action, observed, ctx, snyk)
                    notices += reconcile.for_step(
                        action, observed, landed.observed, desired=desired, had_token=had_token, facts=landed.facts
                    )
                    observed = landed.observed
        except Exception as error:
            outcome = outcomes.from_error(error)
            if outcome is None:
                raise
            return outcome, observed, notices
        if decision.stall is not None or not decision.actions or decision.wait_seconds is not None:
            return Outcome(stall=decision.stall, wait_seconds=decision.wait_seconds), observed, notices
    return Outcome(pending=True), observed, notices


async def _roll_together(
    rolls: list[actions.RollConsumer],
    observed: Observed,
    ctx: StepContext,
    desired: Desired,
    *,
    had_token: bool,
) -> tuple[Observed, list[Notice], BaseException | None]:
    """Roll several consumers at once; fold in (and announce) each one that landed, in order; and the first
    failure, if any, for the caller to raise as a sequential roll would have."""
    errors = await executor.roll_together(rolls, observed, ctx)
    notices: list[Notice] = []
    for action, error in zip(rolls, errors, strict=True):
        if error is None:
            after = executor.rolled(action, observed)
            notices += reconcile.for_step(action, observed, after, desired=desired, had_token=had_token)
            observed = after
    return observed, notices, next((error for error in errors if error is not None), None)


def _describe(outcome: Outcome) -> str:
    if outcome.stall is not None:
        return f"stalled: {outcome.stall.reason}"
    if outcome.failure is not None:
        return f"failed: {outcome.failure.reason}"
    return "more steps pending" if outcome.pending else "converged"


async def _write_status(
    resource: BrokerToken, new_status: BrokerTokenStatus, deps: Dependencies
) -> tuple[bool, BrokerTokenStatus | None]:
    """Write the status whole, in one patch, only when it differs from the stored one. Returns whether it wrote,
    and the status the object holds afterwards (the one it had, when the write did not go through)."""
    wanted = new_status.to_json_dict()
    current = resource.status.to_json_dict() if resource.status else {}
    if wanted == current:
        return False, new_status
    # Fields that dropped out are sent as null so that the merge patch removes them: the status is written whole.
    patch: dict[str, Any] = {key: None for key in current if key not in wanted}
    patch.update(wanted)
    meta = resource.metadata
    try:
        await deps.objects.patch_status(
            plural=BROKER_TOKEN_PLURAL, name=meta.name, namespace=meta.namespace, status=patch
        )
    except NotFound:
        return False, resource.status  # deleted meanwhile: nothing to report on
    except KubeError as error:
        # The next pass computes the same status again and retries the write; everything else already landed.
        logger.warning("BrokerToken %s/%s: could not write its status: %s", meta.namespace, meta.name, error)
        return False, resource.status
    return True, new_status


async def _record_events(body: Mapping[str, Any], notices: list[Notice], deps: Dependencies) -> None:
    for notice in notices:
        try:
            await deps.events.record(
                involved=dict(body), reason=notice.reason, message=notice.message, warning=notice.warning
            )
        except KubeError as error:
            # An event is a courtesy; failing to record one must not fail the reconcile.
            logger.warning("Could not record event %s: %s", notice.reason, error)


async def _report_invalid(
    body: Mapping[str, Any], error: pydantic.ValidationError, deps: Dependencies, now: datetime
) -> bool:
    """An object the schema let through but the models refuse (an older CRD, say): report it, touch nothing else."""
    problems = outcomes.validation_problems(error)
    metadata = body.get("metadata") or {}
    try:
        previous = BrokerTokenStatus.model_validate(body.get("status") or {})
    except pydantic.ValidationError:
        previous = None
    new_status = reconcile.invalid(previous, problems=problems, generation=metadata.get("generation") or 0, now=now)
    current = previous.to_json_dict() if previous else {}
    if new_status.to_json_dict() == current:
        return False
    try:
        await deps.objects.patch_status(
            plural=BROKER_TOKEN_PLURAL,
            name=metadata.get("name", ""),
            namespace=metadata.get("namespace"),
            status=new_status.to_json_dict(),
        )
    except NotFound:
        return False
    return True
