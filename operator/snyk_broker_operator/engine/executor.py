"""Carries out one planned action through the adapters and folds its result into the observations.

Invariant 1 lives here: a token Snyk returns is written to the custody Secret before this function returns, and
before any other step runs. Failures are raised as `StepStalled` (the user must act) or `StepFailed` (retry later).
"""

from __future__ import annotations

import dataclasses
import logging

from snyk_broker_operator.adapters.kube.errors import KubeApiError
from snyk_broker_operator.adapters.snyk import AmbiguousError, IntegrationConflictError, SnykClient
from snyk_broker_operator.engine import failpoints, rotation_steps
from snyk_broker_operator.engine.context import (
    Notice,
    SnykClientFactory,
    StepContext,
    StepFailed,
    StepStalled,
    kube_failure,
    persist_custody,
)
from snyk_broker_operator.models import fingerprint_of
from snyk_broker_operator.reconcile import actions, consumers, manifests, timestamps
from snyk_broker_operator.reconcile.observed import Custody, Integration, Observed

logger = logging.getLogger(__name__)


async def execute(action: actions.Action, observed: Observed, ctx: StepContext, snyk: SnykClientFactory) -> Observed:
    match action:
        case actions.ResolveIntegration():
            return await _resolve(action, observed, await snyk.get())
        case actions.EnableBroker():
            return await _enable(action, observed, ctx, await snyk.get())
        case actions.AdoptExistingToken():
            return await _adopt(action, observed, ctx)
        case actions.InspectShareTarget():
            return await _inspect(action, observed, await snyk.get())
        case actions.CloneIntegration():
            return await _clone(action, observed, ctx, await snyk.get())
        case actions.RecordShare():
            return await _record_share(action, observed, ctx)
        case actions.WriteConsumerSecret():
            return await _write_consumer(action, observed, ctx)
        case actions.RollConsumer():
            return await _roll(action, observed, ctx)
        case (
            actions.BeginRotation()
            | actions.ProvisionToken()
            | actions.EnsureBridges()
            | actions.SwitchToken()
            | actions.PromoteProvisional()
            | actions.FinishRotation()
        ):
            return await rotation_steps.run(action, observed, ctx, snyk)
    raise AssertionError(f"unknown action {action!r}")


async def _resolve(action: actions.ResolveIntegration, observed: Observed, snyk: SnykClient) -> Observed:
    if action.integration_type is not None:
        found = await snyk.get_integration_by_type(org_id=action.org_id, integration_type=action.integration_type)
        return dataclasses.replace(observed, resolved=Integration(id=found, type=action.integration_type))
    by_type = await snyk.list_integrations(org_id=action.org_id)
    for kind, integration_id in by_type.items():
        if integration_id == action.integration_id:
            return dataclasses.replace(observed, resolved=Integration(id=integration_id, type=kind))
    raise StepStalled(
        actions.Stall(
            reason="IntegrationNotFound",
            message=f"spec.integration.id {action.integration_id} is not an integration of org {action.org_id}",
        )
    )


async def _enable(action: actions.EnableBroker, observed: Observed, ctx: StepContext, snyk: SnykClient) -> Observed:
    grant = await snyk.enable_broker(
        org_id=action.org_id, integration_id=action.integration_id, integration_type=action.integration_type
    )
    previous = observed.custody
    custody = Custody(
        token=grant.token,
        origin=action.origin,
        integration_id=action.integration_id,
        integration_type=action.integration_type,
        issued_at=timestamps.format_utc(ctx.now),
        revision=max(1, previous.revision if previous else 0),
        clones=previous.clones if previous and previous.integration_id == action.integration_id else {},
        conflicts=previous.conflicts if previous and previous.integration_id == action.integration_id else {},
        # A rotate-requested-at value already present when a token is first obtained asks for nothing more.
        last_rotate_request=ctx.desired.rotation.requested,
    )
    await persist_custody(ctx, custody, existed=previous is not None)
    ctx.notices.append(
        Notice(
            "TokenIssued",
            f"broker enabled on {action.integration_type} integration {action.integration_id} of org "
            f"{action.org_id}; token {fingerprint_of(grant.token)} is in custody",
        )
    )
    return dataclasses.replace(observed, custody=custody)


async def _adopt(action: actions.AdoptExistingToken, observed: Observed, ctx: StepContext) -> Observed:
    assert observed.source is not None and observed.source.token is not None
    previous = observed.custody
    custody = Custody(
        token=observed.source.token,
        origin=action.origin,
        integration_id=None,
        integration_type=None,
        issued_at=timestamps.format_utc(ctx.now),
        revision=(previous.revision if previous else 0) + 1,
        last_rotate_request=ctx.desired.rotation.requested,
    )
    await persist_custody(ctx, custody, existed=previous is not None)
    ctx.notices.append(
        Notice("TokenAdopted", f"token {fingerprint_of(observed.source.token)} taken from {action.origin}")
    )
    return dataclasses.replace(observed, custody=custody)


async def _inspect(action: actions.InspectShareTarget, observed: Observed, snyk: SnykClient) -> Observed:
    by_type = await snyk.list_integrations(org_id=action.org_id)
    targets = {**observed.share_targets, action.org_id: by_type.get(action.integration_type)}
    return dataclasses.replace(observed, share_targets=targets)


async def _clone(action: actions.CloneIntegration, observed: Observed, ctx: StepContext, snyk: SnykClient) -> Observed:
    try:
        new_id = await snyk.clone_integration(
            org_id=action.org_id, integration_id=action.integration_id, destination_org_id=action.destination_org_id
        )
    except AmbiguousError:
        # The clone may have happened: look again before deciding anything (never a blind second clone).
        logger.warning("Clone into org %s ended ambiguously; re-observing", action.destination_org_id)
        targets = {k: v for k, v in observed.share_targets.items() if k != action.destination_org_id}
        return dataclasses.replace(
            observed, share_targets=targets, ambiguous_clones=observed.ambiguous_clones | {action.destination_org_id}
        )
    except IntegrationConflictError:
        # Someone added an integration of this type since the look-up: look again and record it as theirs.
        targets = {k: v for k, v in observed.share_targets.items() if k != action.destination_org_id}
        return dataclasses.replace(observed, share_targets=targets)
    return await _record_share(
        actions.RecordShare(destination_org_id=action.destination_org_id, integration_id=new_id, ours=True),
        observed,
        ctx,
    )


async def _record_share(action: actions.RecordShare, observed: Observed, ctx: StepContext) -> Observed:
    custody = observed.custody
    assert custody is not None
    if action.ours:
        custody = dataclasses.replace(
            custody, clones={**custody.clones, action.destination_org_id: action.integration_id}
        )
        ctx.notices.append(
            Notice(
                "SharedWithOrg",
                f"integration cloned into org {action.destination_org_id} as {action.integration_id}; it uses the "
                "same broker token",
            )
        )
    else:
        custody = dataclasses.replace(
            custody, conflicts={**custody.conflicts, action.destination_org_id: action.integration_id}
        )
        ctx.notices.append(
            Notice(
                "ShareConflict",
                f"org {action.destination_org_id} already has integration {action.integration_id} of this type; "
                "left as it is",
                warning=True,
            )
        )
    await persist_custody(ctx, custody, existed=True)
    return dataclasses.replace(observed, custody=custody)


async def _write_consumer(action: actions.WriteConsumerSecret, observed: Observed, ctx: StepContext) -> Observed:
    custody = observed.custody
    assert custody is not None and custody.token is not None
    body = manifests.consumer_secret(ctx.desired, custody.token)
    try:
        if action.create:
            await ctx.secrets.create(body)
        else:
            await ctx.secrets.apply(body)
    except KubeApiError as error:
        raise StepFailed(kube_failure(error, f"writing Secret {ctx.desired.secret_name!r}")) from None
    if action.repairs or ctx.had_token:
        ctx.notices.append(
            Notice(
                "SecretRestored",
                f"Secret {ctx.desired.secret_name!r} restored ({', '.join(action.repairs) or 'recreated'})",
            )
        )
    else:
        ctx.notices.append(Notice("SecretWritten", f"Secret {ctx.desired.secret_name!r} created"))
    written = manifests.secret_state(body, key=ctx.desired.secret_key)
    return dataclasses.replace(observed, consumer=dataclasses.replace(written, controller_uid=ctx.desired.uid))


async def _roll(action: actions.RollConsumer, observed: Observed, ctx: StepContext) -> Observed:
    try:
        await ctx.workloads.set_template_annotation(
            kind=action.kind,
            namespace=ctx.desired.namespace,
            name=action.name,
            key=consumers.FINGERPRINT_ANNOTATION,
            value=action.fingerprint,
        )
    except KubeApiError as error:
        raise StepFailed(kube_failure(error, f"rolling {action.kind} {action.name!r}")) from None
    ctx.notices.append(
        Notice("RolloutStarted", f"{action.kind} {action.name!r} is rolling onto token {action.fingerprint}")
    )
    if observed.rotation is not None:
        failpoints.hit("mid-rollout")
    rolled = tuple(
        dataclasses.replace(w, fingerprint=action.fingerprint, generation=w.generation + 1)
        if (w.kind, w.name) == (action.kind, action.name)
        else w
        for w in observed.consumers
    )
    return dataclasses.replace(observed, consumers=rolled)
