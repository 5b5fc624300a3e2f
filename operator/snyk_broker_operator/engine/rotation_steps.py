"""The rotation steps, carried out: every result is persisted in the rotation Secret or custody before the next step.

Order matters for crash safety: the rotation record is written before the provision call, the provisional token
right after it, the phase only after the step it names has happened. A repeated step is harmless: bridges are
applied, a second switch finds nothing to switch, promotion and clean-up are idempotent. The crash points the
tests use (`ctx.failpoint`) are named where they sit.
"""

from __future__ import annotations

import dataclasses
import logging

from pydantic import SecretStr

from snyk_broker_operator.adapters.kube.errors import KubeError
from snyk_broker_operator.adapters.snyk import NothingToSwitchError, ProvisionalTokenOutstandingError
from snyk_broker_operator.engine.context import SnykClientFactory, StepContext
from snyk_broker_operator.engine.outcomes import StepFailed, StepStalled, kube_failure, provision_cut_off
from snyk_broker_operator.engine.ports import SnykApi
from snyk_broker_operator.engine.unsaved import RotationKey
from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.models.enums import RotationPhase
from snyk_broker_operator.reconcile import (
    Observed,
    RotationRecord,
    StepFact,
    actions,
    bridge_name,
    custody,
    manifests,
    rotation_secret_name,
)

logger = logging.getLogger(__name__)

RotationAction = (
    actions.BeginRotation
    | actions.ProvisionToken
    | actions.EnsureBridges
    | actions.SwitchToken
    | actions.PromoteProvisional
    | actions.FinishRotation
)


async def run(
    action: RotationAction, observed: Observed, ctx: StepContext, snyk: SnykClientFactory
) -> tuple[Observed, frozenset[StepFact]]:
    match action:
        case actions.BeginRotation():
            return await begin(action, observed, ctx), frozenset()
        case actions.ProvisionToken():
            return await provision(action, observed, ctx, await snyk.get()), frozenset()
        case actions.EnsureBridges():
            return await ensure_bridges(action, observed, ctx), frozenset()
        case actions.SwitchToken():
            return await switch(action, observed, ctx, await snyk.get())
        case actions.PromoteProvisional():
            return await promote(observed, ctx), frozenset()
        case actions.FinishRotation():
            return await finish(observed, ctx), frozenset()


async def begin(action: actions.BeginRotation, observed: Observed, ctx: StepContext) -> Observed:
    record = RotationRecord(
        phase=RotationPhase.PROVISIONED,
        phase_since=ctx.now,
        strategy=action.strategy,
        trigger=action.trigger,
        started_at=ctx.now,
        request=action.request,
        token=None,
    )
    await _persist(ctx, record, create=True)
    assert observed.custody is not None
    handled = custody.with_rotate_request(observed.custody, action.request)
    if handled != observed.custody:
        await ctx.persist_custody(handled)
    return dataclasses.replace(observed, rotation=record, custody=handled)


async def provision(action: actions.ProvisionToken, observed: Observed, ctx: StepContext, snyk: SnykApi) -> Observed:
    record = observed.rotation
    assert record is not None
    rotation = (ctx.desired.namespace, ctx.desired.name, record.started_at)
    held = ctx.unsaved.take(rotation)
    if held is not None:
        # Snyk issued it to this process in an earlier pass, and only writing it down failed: no second call.
        return await _save_provisional(ctx, observed, record, held, rotation)
    earlier = record.provision_started_at
    if earlier is None:
        # Snyk's answer is the only copy of the token: if this process stops before it is saved, the next pass must
        # know that a call was made, so that Snyk's "one is outstanding" is read as most likely our own.
        record = dataclasses.replace(record, provision_started_at=ctx.now)
        await _persist(ctx, record)
    try:
        grant = await snyk.provision_token(org_id=action.org_id, integration_id=action.integration_id)
    except ProvisionalTokenOutstandingError:
        if earlier is not None:
            raise provision_cut_off(earlier, rotation_secret_name(ctx.desired.name)) from None
        # Refused before anything was issued: this call left nothing behind (someone else's token is outstanding,
        # and engine.outcomes says so).
        await _persist(ctx, dataclasses.replace(record, provision_started_at=None))
        raise
    return await _save_provisional(ctx, observed, record, grant.token, rotation)


async def _save_provisional(
    ctx: StepContext, observed: Observed, record: RotationRecord, token: SecretStr, rotation: RotationKey
) -> Observed:
    """Write the provisional token into the rotation Secret; if the API server refuses, hold it for the next pass."""
    record = dataclasses.replace(record, token=token, provision_started_at=None)
    try:
        await _persist(ctx, record)
    except (StepFailed, StepStalled):
        ctx.unsaved.hold(rotation, token)
        raise
    ctx.failpoint("after-provision")
    logger.info("Provisional token %s persisted for %s", fingerprint_of(token), ctx.desired.name)
    return dataclasses.replace(observed, rotation=record)


async def ensure_bridges(action: actions.EnsureBridges, observed: Observed, ctx: StepContext) -> Observed:
    record = observed.rotation
    assert record is not None and record.token is not None
    provisional = fingerprint_of(record.token)
    for consumer in observed.consumers:
        if consumer.name in action.consumers:
            body = manifests.bridge_deployment(ctx.desired, consumer, provisional)
            try:
                await ctx.workloads.apply_deployment(body)
            except KubeError as error:
                raise kube_failure(error, f"applying bridge {body['metadata']['name']!r}") from None
    if record.phase == RotationPhase.PROVISIONED:
        record = dataclasses.replace(record, phase=RotationPhase.BRIDGING, phase_since=ctx.now)
        await _persist(ctx, record)
    return dataclasses.replace(observed, rotation=record)


async def switch(
    action: actions.SwitchToken, observed: Observed, ctx: StepContext, snyk: SnykApi
) -> tuple[Observed, frozenset[StepFact]]:
    record = observed.rotation
    assert record is not None and record.token is not None
    if record.phase == RotationPhase.BRIDGING:
        ctx.failpoint("after-bridges")
    facts: frozenset[StepFact] = frozenset()
    try:
        await snyk.switch_token(org_id=action.org_id, integration_id=action.integration_id)
    except NothingToSwitchError:
        # A switch already happened (its answer was lost, or the operator stopped before recording it). The v1 API
        # cannot confirm which token Snyk routes to, so the event says what was assumed.
        logger.warning("Snyk reports no provisional token to switch to: taking the switch as done")
        facts = frozenset({StepFact.SWITCH_ASSUMED})
    ctx.failpoint("after-switch")
    record = dataclasses.replace(record, phase=RotationPhase.SWITCHED, phase_since=ctx.now)
    await _persist(ctx, record)
    return dataclasses.replace(observed, rotation=record), facts


async def promote(observed: Observed, ctx: StepContext) -> Observed:
    record, current = observed.rotation, observed.custody
    assert record is not None and record.token is not None and current is not None
    promoted = custody.after_promote(current, provisional=record.token, now=ctx.now)
    if promoted != current:
        await ctx.persist_custody(promoted)
    record = dataclasses.replace(record, phase=RotationPhase.ROLLING_OUT, phase_since=ctx.now)
    await _persist(ctx, record)
    return dataclasses.replace(observed, rotation=record, custody=promoted)


async def finish(observed: Observed, ctx: StepContext) -> Observed:
    namespace = ctx.desired.namespace
    # The bridges this rotation made (one per consumer) and any other found carrying its label, each once.
    bridges = {bridge_name(consumer.name) for consumer in observed.consumers} | {b.name for b in observed.bridges}
    try:
        for name in sorted(bridges):
            await ctx.workloads.delete_deployment(namespace, name)
        await ctx.secrets.delete(namespace, rotation_secret_name(ctx.desired.name))
    except KubeError as error:
        raise kube_failure(error, "cleaning up after the rotation") from None
    return dataclasses.replace(observed, rotation=None, bridges=())


async def _persist(ctx: StepContext, record: RotationRecord, *, create: bool = False) -> None:
    await ctx.write_secret(manifests.rotation_secret(ctx.desired, record), create=create, what="the rotation Secret")
