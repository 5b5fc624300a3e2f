"""The next custody record after each step that changes it: what the revision becomes and what carries over.

Custody is the operator's durable record of a BrokerToken (see `observed.Custody`). The executor persists what these
functions return, before anything else happens; it never computes a record itself.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from pydantic import SecretStr

from snyk_broker_operator.reconcile.manifests import same_secret
from snyk_broker_operator.reconcile.observed import Custody


def after_enable(
    previous: Custody | None,
    *,
    token: SecretStr,
    origin: str,
    integration_id: str,
    integration_type: str,
    now: datetime,
    rotate_request: str | None,
) -> Custody:
    """Custody once Snyk returned the integration's token (enable broker).

    The revision starts at 1 and is not bumped: enabling twice returns the same token. Clones and conflicts carry
    over only while the integration is the same one, since they belong to it. A rotate-requested-at value already
    present when a token is first obtained asks for nothing more, so it is recorded as handled.
    """
    same_integration = previous is not None and previous.integration_id == integration_id
    return Custody(
        token=token,
        origin=origin,
        integration_id=integration_id,
        integration_type=integration_type,
        issued_at=now,
        revision=max(1, previous.revision if previous else 0),
        clones=previous.clones if previous is not None and same_integration else {},
        conflicts=previous.conflicts if previous is not None and same_integration else {},
        clones_started=previous.clones_started if previous is not None and same_integration else frozenset(),
        last_rotate_request=rotate_request,
    )


def after_adopt(
    previous: Custody | None, *, token: SecretStr, origin: str, now: datetime, rotate_request: str | None
) -> Custody:
    """Custody once a token given in a Secret was taken: each adoption is a new revision, tied to no integration."""
    return Custody(
        token=token,
        origin=origin,
        integration_id=None,
        integration_type=None,
        issued_at=now,
        revision=(previous.revision if previous else 0) + 1,
        last_rotate_request=rotate_request,
    )


def after_promote(previous: Custody, *, provisional: SecretStr, now: datetime) -> Custody:
    """Custody once a rotation's provisional token became the current one: a new revision, unless a repeated
    promotion (after a crash) finds it already there."""
    if same_secret(previous.token, provisional):
        return previous
    return dataclasses.replace(previous, token=provisional, revision=previous.revision + 1, issued_at=now)


def with_clone_started(previous: Custody, *, org_id: str) -> Custody:
    """Custody recording that a clone into `org_id` is about to be asked for: an integration found there later, whose
    clone answer never arrived, is ours."""
    return dataclasses.replace(previous, clones_started=previous.clones_started | {org_id})


def without_clone_started(previous: Custody, *, org_id: str) -> Custody:
    """Custody once Snyk said the clone into `org_id` did not happen (someone else's integration was there first)."""
    return dataclasses.replace(previous, clones_started=previous.clones_started - {org_id})


def with_clone(previous: Custody, *, org_id: str, integration_id: str) -> Custody:
    """Custody recording our clone of the integration in another org (it shares the token)."""
    return dataclasses.replace(
        previous, clones={**previous.clones, org_id: integration_id}, clones_started=previous.clones_started - {org_id}
    )


def with_conflict(previous: Custody, *, org_id: str, integration_id: str) -> Custody:
    """Custody recording that another org already had an integration of this type, left as it is."""
    return dataclasses.replace(
        previous,
        conflicts={**previous.conflicts, org_id: integration_id},
        clones_started=previous.clones_started - {org_id},
    )


def with_rotate_request(previous: Custody, request: str | None) -> Custody:
    """Custody recording a rotate-requested-at value as handled (a rotation started for it)."""
    if request is None:
        return previous
    return dataclasses.replace(previous, last_rotate_request=request)
