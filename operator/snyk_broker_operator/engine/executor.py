"""Carries out one planned action through the ports and folds its result into the observations.

Invariant 1 lives here: a token Snyk returns is written to the custody Secret before this function returns, and
before any other step runs. What custody becomes is decided by `reconcile.custody`; this module only persists it.
Failures are raised as `StepStalled` (the user must act) or `StepFailed` (retry later), or as the Snyk client's
own errors, which `engine.outcomes` maps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from snyk_broker_operator.adapters.kube.errors import KubeError
from snyk_broker_operator.adapters.snyk import AmbiguousError, IntegrationConflictError
from snyk_broker_operator.engine import rotation_steps
from snyk_broker_operator.engine.context import SnykClientFactory, StepContext
from snyk_broker_operator.engine.outcomes import kube_failure
from snyk_broker_operator.engine.ports import SnykApi
from snyk_broker_operator.models import TOKEN_FINGERPRINT_ANNOTATION
from snyk_broker_operator.reconcile import Integration, Observed, StepFact, actions, custody, manifests

logger = logging.getLogger(__name__)

# Consumer rolls of one pass written at once (the Kubernetes client has 16 threads).
ROLLS_AT_ONCE = 16


@dataclasses.dataclass(frozen=True)
class Landed:
    """A step that was carried out: the observations after it, and what it learned that they do not show."""

    observed: Observed
    facts: frozenset[StepFact] = frozenset()


async def execute(action: actions.Action, observed: Observed, ctx: StepContext, snyk: SnykClientFactory) -> Landed:
    match action:
        case actions.ResolveIntegration():
            return Landed(await _resolve(action, observed, await snyk.get()))
        case actions.EnableBroker():
            return Landed(await _enable(action, observed, ctx, await snyk.get()))
        case actions.AdoptExistingToken():
            return Landed(await _adopt(action, observed, ctx))
        case actions.InspectShareTarget():
            return Landed(await _inspect(action, observed, await snyk.get()))
        case actions.CloneIntegration():
            return Landed(await _clone(action, observed, ctx, await snyk.get()))
        case actions.RecordShare():
            return Landed(await _record_share(action, observed, ctx))
        case actions.WriteConsumerSecret():
            return Landed(await _write_consumer(action, observed, ctx))
        case actions.RollConsumer():
            return Landed(await _roll(action, observed, ctx))
        case (
            actions.BeginRotation()
            | actions.ProvisionToken()
            | actions.EnsureBridges()
            | actions.SwitchToken()
            | actions.PromoteProvisional()
            | actions.FinishRotation()
        ):
            landed, facts = await rotation_steps.run(action, observed, ctx, snyk)
            return Landed(landed, facts)
    raise AssertionError(f"unknown action {action!r}")


async def _resolve(action: actions.ResolveIntegration, observed: Observed, snyk: SnykApi) -> Observed:
    if action.integration_type is not None:
        found = await snyk.get_integration_by_type(org_id=action.org_id, integration_type=action.integration_type)
        return dataclasses.replace(observed, resolved=Integration(id=found, type=action.integration_type))
    by_type = await snyk.list_integrations(org_id=action.org_id)
    for kind, integration_id in by_type.items():
        if integration_id == action.integration_id:
            return dataclasses.replace(observed, resolved=Integration(id=integration_id, type=kind))
    return dataclasses.replace(observed, integration_missing=True)


async def _enable(action: actions.EnableBroker, observed: Observed, ctx: StepContext, snyk: SnykApi) -> Observed:
    grant = await snyk.enable_broker(
        org_id=action.org_id, integration_id=action.integration_id, integration_type=action.integration_type
    )
    record = custody.after_enable(
        observed.custody,
        token=grant.token,
        origin=action.origin,
        integration_id=action.integration_id,
        integration_type=action.integration_type,
        now=ctx.now,
        rotate_request=ctx.desired.rotation.requested,
    )
    await ctx.persist_custody(record, existed=observed.custody is not None)
    return dataclasses.replace(observed, custody=record)


async def _adopt(action: actions.AdoptExistingToken, observed: Observed, ctx: StepContext) -> Observed:
    assert observed.source is not None and observed.source.token is not None
    record = custody.after_adopt(
        observed.custody,
        token=observed.source.token,
        origin=action.origin,
        now=ctx.now,
        rotate_request=ctx.desired.rotation.requested,
    )
    await ctx.persist_custody(record, existed=observed.custody is not None)
    return dataclasses.replace(observed, custody=record)


async def _inspect(action: actions.InspectShareTarget, observed: Observed, snyk: SnykApi) -> Observed:
    by_type = await snyk.list_integrations(org_id=action.org_id)
    targets = {**observed.share_targets, action.org_id: by_type.get(action.integration_type)}
    return dataclasses.replace(observed, share_targets=targets)


async def _clone(action: actions.CloneIntegration, observed: Observed, ctx: StepContext, snyk: SnykApi) -> Observed:
    destination = action.destination_org_id
    started = observed.custody
    assert started is not None
    if destination not in started.clones_started:
        # Recorded before the call, like a rotation's provision: a lost answer must not turn our clone into a conflict.
        started = custody.with_clone_started(started, org_id=destination)
        await ctx.persist_custody(started)
        observed = dataclasses.replace(observed, custody=started)
    try:
        new_id = await snyk.clone_integration(
            org_id=action.org_id, integration_id=action.integration_id, destination_org_id=destination
        )
    except AmbiguousError:
        # The clone may have happened: look again before deciding anything (never a blind second clone).
        logger.warning("Clone into org %s ended ambiguously; re-observing", destination)
        return dataclasses.replace(observed, share_targets=_forget(observed, destination))
    except IntegrationConflictError:
        # Someone added an integration of this type since the look-up: look again and record it as theirs.
        record = custody.without_clone_started(started, org_id=destination)
        await ctx.persist_custody(record)
        return dataclasses.replace(observed, custody=record, share_targets=_forget(observed, destination))
    share = actions.RecordShare(destination_org_id=destination, integration_id=new_id, ours=True)
    return await _record_share(share, observed, ctx)


def _forget(observed: Observed, org_id: str) -> dict[str, str | None]:
    return {k: v for k, v in observed.share_targets.items() if k != org_id}


async def _record_share(action: actions.RecordShare, observed: Observed, ctx: StepContext) -> Observed:
    assert observed.custody is not None
    record = (custody.with_clone if action.ours else custody.with_conflict)(
        observed.custody, org_id=action.destination_org_id, integration_id=action.integration_id
    )
    await ctx.persist_custody(record)
    return dataclasses.replace(observed, custody=record)


async def _write_consumer(action: actions.WriteConsumerSecret, observed: Observed, ctx: StepContext) -> Observed:
    assert observed.custody is not None and observed.custody.token is not None
    body = manifests.consumer_secret(ctx.desired, observed.custody.token)
    try:
        if action.create:
            await ctx.secrets.create(body)
        else:
            await ctx.secrets.apply(body)
    except KubeError as error:
        raise kube_failure(error, f"writing Secret {ctx.desired.secret_name!r}") from None
    written = manifests.secret_state(body, key=ctx.desired.secret_key)
    return dataclasses.replace(observed, consumer=written)


async def _roll(action: actions.RollConsumer, observed: Observed, ctx: StepContext) -> Observed:
    await _write_roll(action, ctx, rotating=observed.rotation is not None)
    return rolled(action, observed)


async def _write_roll(action: actions.RollConsumer, ctx: StepContext, *, rotating: bool) -> None:
    try:
        await ctx.workloads.set_template_annotation(
            kind=action.kind,
            namespace=ctx.desired.namespace,
            name=action.name,
            key=TOKEN_FINGERPRINT_ANNOTATION,
            value=action.fingerprint,
        )
    except KubeError as error:
        raise kube_failure(error, f"rolling {action.kind} {action.name!r}") from None
    if rotating:
        ctx.failpoint("mid-rollout")


def rolled(action: actions.RollConsumer, observed: Observed) -> Observed:
    """The observations once `action` has landed: its consumer on the new fingerprint, one generation on."""
    consumers = tuple(
        dataclasses.replace(w, fingerprint=action.fingerprint, generation=w.generation + 1)
        if (w.kind, w.name) == (action.kind, action.name)
        else w
        for w in observed.consumers
    )
    return dataclasses.replace(observed, consumers=consumers)


async def roll_together(
    rolls: Sequence[actions.RollConsumer], observed: Observed, ctx: StepContext
) -> list[BaseException | None]:
    """Write every roll's annotation, ROLLS_AT_ONCE at a time: the consumers of one token are independent, and one
    apply after another took two seconds for a hundred of them. Each roll's error, or None where it landed, in the
    order of `rolls` (all are attempted, so that one refusal does not hold the others back)."""
    slots = asyncio.Semaphore(ROLLS_AT_ONCE)
    rotating = observed.rotation is not None

    async def one(action: actions.RollConsumer) -> None:
        async with slots:
            await _write_roll(action, ctx, rotating=rotating)

    results = await asyncio.gather(*(one(action) for action in rolls), return_exceptions=True)
    return [result if isinstance(result, BaseException) else None for result in results]
