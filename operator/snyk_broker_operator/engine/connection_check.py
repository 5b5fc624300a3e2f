"""Whether a (Cluster)SnykConnection's credentials work: one cheap call (GET /user/me), its result kept in status.

When to check and what the status becomes are `reconcile.connection`'s decisions; this module reads, calls and
writes (one status patch, only when it differs).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import pydantic

from snyk_broker_operator.adapters.kube.errors import NotFound
from snyk_broker_operator.engine.connections import PLURALS
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.engine.outcomes import connection_check_outcome, validation_problems
from snyk_broker_operator.models import ClusterSnykConnection, SnykConnection, SnykConnectionStatus
from snyk_broker_operator.models.enums import ConnectionKind
from snyk_broker_operator.reconcile import Outcome
from snyk_broker_operator.reconcile import connection as decide

logger = logging.getLogger(__name__)


async def check(body: Mapping[str, Any], kind: ConnectionKind, deps: Dependencies) -> tuple[float, bool]:
    """Check when due; return (seconds until the next check, whether the connection is Ready)."""
    now = deps.now()
    model: type[SnykConnection | ClusterSnykConnection] = (
        ClusterSnykConnection if kind is ConnectionKind.CLUSTER_SNYK_CONNECTION else SnykConnection
    )
    metadata = body.get("metadata") or {}
    try:
        resource = model.model_validate(dict(body))
    except pydantic.ValidationError as error:
        previous = _lenient_status(body)
        new_status = decide.invalid(
            previous, problems=validation_problems(error), generation=metadata.get("generation") or 0, now=now
        )
        await _write(kind, metadata.get("name", ""), metadata.get("namespace"), previous, new_status, deps)
        return decide.RETRY_BROKEN.total_seconds(), False
    meta, previous = resource.metadata, resource.status
    due_in = decide.check_due_in(previous, generation=meta.generation or 0, now=now)
    if due_in is not None:
        return due_in, decide.is_ready(previous)
    outcome, orgs = await _probe(kind, meta.name, meta.namespace or "", deps)
    new_status = decide.after_check(previous, outcome=outcome, orgs_seen=orgs, generation=meta.generation or 0, now=now)
    await _write(kind, meta.name, meta.namespace, previous, new_status, deps)
    return decide.next_check_in(new_status), decide.is_ready(new_status)


async def _probe(kind: ConnectionKind, name: str, namespace: str, deps: Dependencies) -> tuple[Outcome, int]:
    """Call GET /user/me with the connection's key: (how it went, how many orgs the key sees)."""
    try:
        client = await deps.connections.client_for(kind=kind, name=name, namespace=namespace)
        credentials = await client.check_credentials()
    except Exception as error:
        outcome = connection_check_outcome(error)
        if outcome is None:
            raise
        return outcome, 0
    return Outcome(), len(credentials.org_ids)


async def _write(
    kind: ConnectionKind,
    name: str,
    namespace: str | None,
    previous: SnykConnectionStatus | None,
    new_status: SnykConnectionStatus,
    deps: Dependencies,
) -> None:
    if previous is not None and previous.to_json_dict() == new_status.to_json_dict():
        return
    with contextlib.suppress(NotFound):  # deleted meanwhile: nothing to report on
        await deps.objects.patch_status(
            plural=PLURALS[kind], name=name, namespace=namespace, status=new_status.to_json_dict()
        )


def _lenient_status(body: Mapping[str, Any]) -> SnykConnectionStatus | None:
    try:
        return SnykConnectionStatus.model_validate(body.get("status") or {})
    except pydantic.ValidationError:
        return None
