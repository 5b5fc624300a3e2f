"""The rotation steps, carried out: every result is persisted in the rotation Secret or custody before the next step.

Order matters for crash safety: the rotation record is written before the provision call, the provisional token
right after it, the phase only after the step it names has happened. A repeated step is harmless: bridges are
applied, a second switch finds nothing to switch, promotion and clean-up are idempotent.
"""

from __future__ import annotations

import dataclasses
import logging

from snyk_broker_operator.adapters.kube.errors import KubeApiError
from snyk_broker_operator.adapters.snyk import NothingToSwitchError, ProvisionalTokenOutstandingError, SnykClient
from snyk_broker_operator.engine import failpoints
from snyk_broker_operator.engine.context import (
    Notice,
    SnykClientFactory,
    StepContext,
    StepFailed,
    StepStalled,
    kube_failure,
    write_secret,
)
from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.models.enums import RotationPhase
from snyk_broker_operator.reconcile import actions, manifests, timestamps
from snyk_broker_operator.reconcile.desired import bridge_name, rotation_secret_name
from snyk_broker_operator.reconcile.observed import Observed
from snyk_broker_operator.reconcile.rotation import POLL_SECONDS, RotationRecord

logger = logging.getLogger(__name__)

OUTSTANDING_MESSAGE = (
    "Snyk refuses to provision a new broker token because another provisional token is outstanding in this "
    "integration's Snyk Group (only one may exist at a time). If another tool or person provisioned it, let them "
    "finish (switch) first; if an earlier request of this operator timed out, its token cannot be read back through "
    "the API: switch or clear it in Snyk (or ask Snyk support). The rotation resumes by itself once Snyk accepts"
)


async def run(
    action: actions.BeginRotation
    | actions.ProvisionToken
    | actions.EnsureBridges
    | actions.SwitchToken
    | actions.PromoteProvisional
    | actions.FinishRotation,
    observed: Observed,
    ctx: StepContext,
    snyk: SnykClientFactory,
) -> Observed:
    match action:
        case actions.BeginRotation():
            return await begin(action, observed, ctx)
        case actions.ProvisionToken():
            return await provision(action, observed, ctx, await snyk.get())
        case actions.EnsureBridges():
            return await ensure_bridges(action, observed, ctx)
        case actions.SwitchToken():
            return await switch(action, observed, ctx, await snyk.get())
        case actions.PromoteProvisional():
            return await promote(observed, ctx)
        case actions.FinishRotation():
            return await finish(observed, ctx)


async def begin(action: actions.BeginRotation, observed: Observed, ctx: StepContext) -> Observed:
    record = RotationRecord(
        phase=RotationPhase.PROVISIONED,
        strategy=action.strategy,
        trigger=action.trigger,
        started_at=timestamps.format_utc(ctx.now),
        request=action.request,
        token=None,
    )
    await _persist(ctx, record, create=True)
    custody = observed.custody
    assert custody is not None
    if action.request is not None:
        custody = dataclasses.replace(custody, last_rotate_request=action.request)
        await ctx.persist_custody(custody)
    ctx.notices.append(
        Notice("RotationStarted", f"rotation started ({action.strategy.value}, trigger {action.trigger.value})")
    )
    return dataclasses.replace(observed, rotation=record, custody=custody)


async def provision(action: actions.ProvisionToken, observed: Observed, ctx: StepContext, snyk: SnykClient) -> Observed:
    record = observed.rotation
    assert record is not None
    try:
        grant = await snyk.provision_token(org_id=action.org_id, integration_id=action.integration_id)
    except ProvisionalTokenOutstandingError:
        raise StepStalled(actions.Stall("ProvisionalTokenOutstanding", OUTSTANDING_MESSAGE)) from None
    record = dataclasses.replace(record, token=grant.token)
    await _persist(ctx, record)
    failpoints.hit("after-provision")
    logger.info("Provisional token %s persisted for %s", fingerprint_of(grant.token), ctx.desired.name)
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
            except KubeApiError as error:
                raise StepFailed(kube_failure(error, f"applying bridge {body['metadata']['name']!r}")) from None
    if record.phase == RotationPhase.PROVISIONED:
        record = dataclasses.replace(record, phase=RotationPhase.BRIDGING)
        await _persist(ctx, record)
    # The bridges need the cluster to act: end this pass and read their state again shortly.
    ctx.wait_seconds = POLL_SECONDS
    return dataclasses.replace(observed, rotation=record)


async def switch(action: actions.SwitchToken, observed: Observed, ctx: StepContext, snyk: SnykClient) -> Observed:
    record = observed.rotation
    assert record is not None and record.token is not None
    token = record.token
    if record.phase == RotationPhase.BRIDGING:
        failpoints.hit("after-bridges")
        ctx.notices.append(Notice("BridgeReady", f"{len(observed.bridges)} bridge(s) available on the new token"))
    try:
        await snyk.switch_token(org_id=action.org_id, integration_id=action.integration_id)
    except NothingToSwitchError:
        # A switch already happened (its answer was lost, or the operator stopped before recording it). The v1 API
        # cannot confirm which token Snyk routes to, so say what was assumed.
        logger.warning("Snyk reports no provisional token to switch to: taking the switch as done")
        ctx.notices.append(
            Notice(
                "SwitchAssumed",
                "Snyk reports no provisional token left to switch to, so the switch to "
                f"{fingerprint_of(token)} is taken as done (an earlier answer was lost). If the integration's broker "
                "settings were changed meanwhile, check that broker clients connect",
            )
        )
    failpoints.hit("after-switch")
    record = dataclasses.replace(record, phase=RotationPhase.SWITCHED)
    await _persist(ctx, record)
    custody = observed.custody
    shared = len(custody.clones) if custody else 0
    also = f" and the {shared} integration(s) cloned into other orgs" if shared else ""
    ctx.notices.append(
        Notice("TokenSwitched", f"Snyk now routes the integration{also} to token {fingerprint_of(token)}")
    )
    return dataclasses.replace(observed, rotation=record)


async def promote(observed: Observed, ctx: StepContext) -> Observed:
    record, custody = observed.rotation, observed.custody
    assert record is not None and record.token is not None and custody is not None
    if custody.token is None or custody.token.get_secret_value() != record.token.get_secret_value():
        custody = dataclasses.replace(
            custody,
            token=record.token,
            revision=custody.revision + 1,
            issued_at=timestamps.format_utc(ctx.now),
        )
        await ctx.persist_custody(custody)
    record = dataclasses.replace(record, phase=RotationPhase.ROLLING_OUT)
    await _persist(ctx, record)
    return dataclasses.replace(observed, rotation=record, custody=custody)


async def finish(observed: Observed, ctx: StepContext) -> Observed:
    namespace = ctx.desired.namespace
    for consumer in observed.consumers:
        await ctx.workloads.delete_deployment(namespace, bridge_name(consumer.name))
    for bridge in observed.bridges:
        await ctx.workloads.delete_deployment(namespace, bridge.name)
    await ctx.secrets.delete(namespace, rotation_secret_name(ctx.desired.name))
    custody = observed.custody
    assert custody is not None and custody.token is not None
    shared = f"; {len(custody.clones)} other org(s) share it" if custody.clones else ""
    ctx.notices.append(
        Notice(
            "RotationCompleted",
            f"revision {custody.revision}: consumers run token {fingerprint_of(custody.token)}{shared}",
        )
    )
    return dataclasses.replace(observed, rotation=None, bridges=())


async def _persist(ctx: StepContext, record: RotationRecord, *, create: bool = False) -> None:
    await write_secret(ctx, manifests.rotation_secret(ctx.desired, record), create=create, what="the rotation Secret")
