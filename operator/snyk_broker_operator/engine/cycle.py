"""One reconcile of one BrokerToken: gather -> decide -> act (repeat) -> compute status -> at most one patch.

Every trigger runs this same function. It never raises for a problem with the object or with Snyk: such problems
become a Stalled or Reconciling condition and a delay before the next attempt; only a bug propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pydantic

from snyk_broker_operator.adapters import snyk as snyk_api
from snyk_broker_operator.adapters.kube.errors import KubeApiError
from snyk_broker_operator.engine import context, executor
from snyk_broker_operator.engine.connections import ConnectionUnusable
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.models import BrokerToken, BrokerTokenStatus
from snyk_broker_operator.models.enums import ConditionReason, ConditionType, ConsumerState
from snyk_broker_operator.reconcile import actions, consumers, manifests, plan, status, timestamps, transitions
from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.desired import (
    BROKER_TOKEN_LABEL,
    Desired,
    SourceKind,
    custody_secret_name,
    from_resource,
    rotation_secret_name,
)
from snyk_broker_operator.reconcile.observed import Observed
from snyk_broker_operator.reconcile.outcome import Failure, Outcome

logger = logging.getLogger(__name__)

PLURAL = "brokertokens"
# Enough for resolve, enable, a handful of shares and the Secret; more means another pass, not a loop forever.
MAX_STEPS = 24
# How often a converged BrokerToken is looked at again anyway (reads only), e.g. for a changed source Secret.
RESYNC_SECONDS = 300.0
# While consumers roll out, look again this often even if no workload event arrives.
ROLLING_RESYNC_SECONDS = 10.0
# A given token Secret is the user's, so it is not labelled for the watch unless they chose to: poll it.
GIVEN_SECRET_RESYNC_SECONDS = 30.0


async def reconcile(body: Mapping[str, Any], deps: Dependencies) -> float:
    """Reconcile once; return the seconds until the next pass is due unless something kicks it sooner."""
    now = deps.now()
    try:
        resource = BrokerToken.model_validate(dict(body))
    except pydantic.ValidationError as error:
        await _stall_unparseable(body, deps, error)
        return status.BACKOFF_CAP_SECONDS
    desired = from_resource(resource)
    observed = await gather(desired, resource, deps)
    ctx = context.StepContext(
        desired=desired,
        secrets=deps.secrets,
        workloads=deps.workloads,
        now=now,
        had_token=bool(resource.status and resource.status.token_fingerprint),
    )
    outcome, observed = await converge(desired, observed, ctx, resource, deps)
    new_status = status.compute_status(
        desired=desired, observed=observed, outcome=outcome, previous=resource.status, now=now
    )
    for reason, message, warning in transitions.notices(resource.status, new_status):
        ctx.notices.append(context.Notice(reason, message, warning=warning))
    # Events first: whoever sees a status can then also see the events that led to it.
    await _record_events(body, ctx.notices, resource.status, outcome, deps, rotating=observed.rotation is not None)
    wrote = await _write_status(resource, new_status, deps)
    # Converged passes log at DEBUG only: a quiet BrokerToken stays quiet in the log as well.
    logger.log(
        logging.INFO if ctx.notices or wrote or not outcome.settled else logging.DEBUG,
        "BrokerToken %s/%s: reconcile pass done (%s; %s)",
        desired.namespace,
        desired.name,
        _describe(outcome),
        "status written" if wrote else "status unchanged",
    )
    if outcome.pending:
        return 0.0
    if outcome.wait_seconds is not None:  # a stall that is polled, or a step waiting on the cluster
        return max(outcome.wait_seconds, 0.5)
    if outcome.settled:
        if _rolling(new_status):
            return ROLLING_RESYNC_SECONDS
        resync = GIVEN_SECRET_RESYNC_SECONDS if desired.source is SourceKind.EXISTING_SECRET else RESYNC_SECONDS
        if new_status.next_rotation_at is not None:
            # Wake up when the next scheduled rotation falls due (a moment after, so that it is due).
            resync = min(resync, max((new_status.next_rotation_at - now).total_seconds() + 0.5, 0.5))
        return resync
    if outcome.failure is not None and outcome.failure.retry_after:
        return max(outcome.failure.retry_after, 1.0)
    return status.backoff_seconds(new_status.failed_attempts or 1)


async def gather(desired: Desired, resource: BrokerToken, deps: Dependencies) -> Observed:
    custody = manifests.parse_custody(await deps.secrets.read(desired.namespace, custody_secret_name(desired.name)))
    consumer = manifests.secret_state(
        await deps.secrets.read(desired.namespace, desired.secret_name), key=desired.secret_key
    )
    source = None
    if desired.source is SourceKind.EXISTING_SECRET and desired.existing_secret is not None:
        ref = desired.existing_secret
        source = manifests.secret_state(await deps.secrets.read(desired.namespace, ref.name), key=ref.key)
    workloads = await gather_workloads(desired, deps)
    rotation_record = manifests.parse_rotation(
        await deps.secrets.read(desired.namespace, rotation_secret_name(desired.name)), key=desired.secret_key
    )
    bridges = tuple(
        consumers.workload_view(w)
        for w in workloads
        if (w["metadata"].get("labels") or {}).get(manifests.BRIDGE_OF_LABEL)
        and (w["metadata"].get("labels") or {}).get(BROKER_TOKEN_LABEL) == desired.name
    )
    return Observed(
        custody=custody,
        consumer=consumer,
        source=source,
        consumers=select_consumers(desired, resource, workloads),
        rotation=rotation_record,
        bridges=bridges,
    )


async def gather_workloads(desired: Desired, deps: Dependencies) -> list[dict[str, Any]]:
    return await deps.workloads.list(desired.namespace)


def select_consumers(desired: Desired, resource: BrokerToken, listed: list[dict[str, Any]]) -> tuple[Workload, ...]:
    """Consumers: the workloads the selector picks when spec.consumers.selector is set, else those referencing the
    Secret; never a rotation bridge."""
    selector = resource.spec.consumer_selector
    chosen = []
    for workload in listed:
        labels = workload["metadata"].get("labels") or {}
        if labels.get(manifests.BRIDGE_OF_LABEL):
            continue
        if selector is not None and not selector.matches(labels):
            continue
        if selector is None and not consumers.references_secret(_pod_spec(workload), desired.secret_name):
            continue
        chosen.append(consumers.workload_view(workload))
    return tuple(sorted(chosen, key=lambda w: (w.kind, w.name)))


def _pod_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


async def converge(
    desired: Desired, observed: Observed, ctx: context.StepContext, resource: BrokerToken, deps: Dependencies
) -> tuple[Outcome, Observed]:
    ref = resource.spec.connection_ref
    snyk = context.SnykClientFactory(
        lambda: deps.connections.client_for(kind=ref.effective_kind, name=ref.name, namespace=desired.namespace)
    )
    for _ in range(MAX_STEPS):
        decision = plan.decide(desired, observed, now=ctx.now)
        if decision.stall is not None:
            return Outcome(stall=decision.stall, wait_seconds=decision.wait_seconds), observed
        if not decision.actions:
            return Outcome(wait_seconds=decision.wait_seconds), observed
        try:
            for action in decision.actions:
                observed = await executor.execute(action, observed, ctx, snyk)
                if ctx.wait_seconds is not None:
                    return Outcome(wait_seconds=ctx.wait_seconds), observed
        except context.StepFailed as failed:
            return Outcome(failure=failed.failure), observed
        except context.StepStalled as stalled:
            return Outcome(stall=stalled.stall), observed
        except ConnectionUnusable as unusable:
            return Outcome(stall=actions.Stall(unusable.reason, unusable.message)), observed
        except snyk_api.SnykError as error:
            return _from_snyk_error(error), observed
    return Outcome(pending=True), observed


def _from_snyk_error(error: snyk_api.SnykError) -> Outcome:
    message = str(error)
    match error:
        case snyk_api.AuthenticationError():
            return Outcome(stall=actions.Stall(ConditionReason.AUTHENTICATION_FAILED, message))
        case snyk_api.NotFoundError():
            return Outcome(stall=actions.Stall(ConditionReason.INTEGRATION_NOT_FOUND, message))
        case snyk_api.BadRequestError():
            return Outcome(stall=actions.Stall(ConditionReason.INVALID_SPEC, message))
        case snyk_api.RateLimitedError():
            return Outcome(failure=Failure(ConditionReason.RATE_LIMITED, message, retry_after=error.retry_after))
        case snyk_api.AmbiguousError():
            return Outcome(failure=Failure(ConditionReason.AMBIGUOUS_RESULT, message))
        case _:
            return Outcome(failure=Failure(ConditionReason.SNYK_UNAVAILABLE, message))


def _rolling(new_status: BrokerTokenStatus) -> bool:
    return any(c.state != ConsumerState.CURRENT for c in new_status.consumers or ())


def _describe(outcome: Outcome) -> str:
    if outcome.stall is not None:
        return f"stalled: {outcome.stall.reason}"
    if outcome.failure is not None:
        return f"failed: {outcome.failure.reason}"
    return "more steps pending" if outcome.pending else "converged"


async def _write_status(resource: BrokerToken, new_status: BrokerTokenStatus, deps: Dependencies) -> bool:
    wanted = new_status.to_json_dict()
    current = resource.status.to_json_dict() if resource.status else {}
    if wanted == current:
        return False
    # Fields that dropped out are sent as null so that the merge patch removes them: the status is written whole.
    patch: dict[str, Any] = {key: None for key in current if key not in wanted}
    patch.update(wanted)
    meta = resource.metadata
    try:
        await deps.objects.patch_status(plural=PLURAL, name=meta.name, namespace=meta.namespace, status=patch)
    except KubeApiError as error:
        if error.status != 404:  # deleted meanwhile: nothing to report on
            raise
    return True


async def _record_events(
    body: Mapping[str, Any],
    notices: list[context.Notice],
    previous: BrokerTokenStatus | None,
    outcome: Outcome,
    deps: Dependencies,
    *,
    rotating: bool,
) -> None:
    notices = list(notices)
    stall = outcome.stall
    if stall is not None and not _was_stalled_the_same(previous, stall):
        notices.append(context.Notice(stall.reason, stall.message, warning=True))
        if rotating:
            notices.append(context.Notice("RotationFailed", stall.message, warning=True))
    for notice in notices:
        try:
            await deps.events.record(
                involved=dict(body), reason=notice.reason, message=notice.message, warning=notice.warning
            )
        except KubeApiError as error:
            # An event is a courtesy; failing to record one must not fail the reconcile.
            logger.warning("Could not record event %s: %s %s", notice.reason, error.status, error.reason)


def _was_stalled_the_same(previous: BrokerTokenStatus | None, stall: actions.Stall) -> bool:
    for condition in (previous.conditions or ()) if previous else ():
        if condition.type == ConditionType.STALLED:
            return (
                condition.status == "True" and condition.reason == stall.reason and condition.message == stall.message
            )
    return False


async def _stall_unparseable(body: Mapping[str, Any], deps: Dependencies, error: pydantic.ValidationError) -> None:
    """An object the schema let through but the models refuse (an older CRD, say): report it, touch nothing."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors(include_input=False)
    )
    message = f"the BrokerToken is invalid: {problems}"
    metadata = body.get("metadata", {})
    stalled = {
        "type": ConditionType.STALLED.value,
        "status": "True",
        "reason": ConditionReason.INVALID_SPEC.value,
        "message": message[:2048],
    }
    current = [c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == "Stalled"]
    if current and all(current[0].get(k) == v for k, v in stalled.items()):
        return
    now = timestamps.format_utc(deps.now())
    conditions = [
        {**stalled, "lastTransitionTime": now},
        {**stalled, "type": "Ready", "status": "False", "lastTransitionTime": now},
        {**stalled, "type": "Reconciling", "status": "False", "lastTransitionTime": now},
    ]
    await deps.objects.patch_status(
        plural=PLURAL,
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace"),
        status={"observedGeneration": metadata.get("generation"), "conditions": conditions},
    )
