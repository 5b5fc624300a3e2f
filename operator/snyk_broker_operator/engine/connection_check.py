"""Whether a (Cluster)SnykConnection's credentials work: one cheap call (GET /user/me), its result kept in status.

The result is cached in the status itself: a check younger than CHECK_INTERVAL for the same generation is not
repeated, so an operator restart makes no Snyk call for a healthy connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pydantic

from snyk_broker_operator.adapters.kube.errors import NotFound
from snyk_broker_operator.engine.connections import PLURALS
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.engine.outcomes import connection_check_result
from snyk_broker_operator.models import ClusterSnykConnection, SnykConnection, SnykConnectionStatus
from snyk_broker_operator.models.enums import ConditionReason, ConditionStatus, ConditionType, ConnectionKind
from snyk_broker_operator.reconcile import conditions

logger = logging.getLogger(__name__)

CHECK_INTERVAL = timedelta(minutes=15)
RETRY_BROKEN = timedelta(minutes=1)


async def check(body: Mapping[str, Any], kind: ConnectionKind, deps: Dependencies) -> tuple[float, bool]:
    """Check when due; return (seconds until the next check, whether the connection is Ready)."""
    now = deps.now()
    model: type[SnykConnection | ClusterSnykConnection] = (
        ClusterSnykConnection if kind is ConnectionKind.CLUSTER_SNYK_CONNECTION else SnykConnection
    )
    try:
        resource = model.model_validate(dict(body))
    except pydantic.ValidationError:
        return RETRY_BROKEN.total_seconds(), False
    meta, previous = resource.metadata, resource.status
    ready_before = _ready(previous)
    if previous and previous.checked_at and previous.observed_generation == meta.generation:
        due = previous.checked_at + (CHECK_INTERVAL if ready_before else RETRY_BROKEN)
        if due > now:
            return (due - now).total_seconds(), ready_before
    ok, reason, message = await _probe(kind, meta.name, meta.namespace or "", deps)
    merged = conditions.merge(
        previous.conditions if previous else None,
        [conditions.Wanted(ConditionType.READY, ok, reason, message)],
        generation=meta.generation or 0,
        now=now,
    )
    new_status = SnykConnectionStatus(
        observed_generation=meta.generation, conditions=merged, checked_at=now, message=message
    )
    with contextlib.suppress(NotFound):  # deleted meanwhile: nothing to report on
        await deps.objects.patch_status(
            plural=PLURALS[kind], name=meta.name, namespace=meta.namespace, status=new_status.to_json_dict()
        )
    return (CHECK_INTERVAL if ok else RETRY_BROKEN).total_seconds(), ok


async def _probe(
    kind: ConnectionKind, name: str, namespace: str, deps: Dependencies
) -> tuple[bool, ConditionReason, str]:
    try:
        client = await deps.connections.client_for(kind=kind, name=name, namespace=namespace)
        credentials = await client.check_credentials()
    except Exception as error:
        failed = connection_check_result(error)
        if failed is None:
            raise
        return False, *failed
    orgs = len(credentials.org_ids)
    return True, ConditionReason.RECONCILED, f"credentials work; the API key sees {orgs} org(s)"


def _ready(status: SnykConnectionStatus | None) -> bool:
    condition = status.condition(ConditionType.READY) if status else None
    return condition is not None and condition.status == ConditionStatus.TRUE
