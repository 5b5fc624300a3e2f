"""When a BrokerToken is deleted: keep (orphan) or delete its consumer Secret, per spec.deletionPolicy.

Kubernetes calls only: deletion never waits on Snyk, so a broken connection can never block it. The custody copy
is owned by the BrokerToken and goes with it through garbage collection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pydantic

from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.models import BrokerToken
from snyk_broker_operator.models.enums import DeletionPolicy
from snyk_broker_operator.reconcile import manifests

logger = logging.getLogger(__name__)


async def release_secret(body: Mapping[str, Any], deps: Dependencies) -> None:
    try:
        resource = BrokerToken.model_validate(dict(body))
    except pydantic.ValidationError:
        # The operator never wrote a Secret for a spec it could not read: there is nothing of ours to release.
        logger.info("BrokerToken %s is invalid; nothing to release", (body.get("metadata") or {}).get("name"))
        return
    meta, spec = resource.metadata, resource.spec
    namespace, uid, secret_name = meta.namespace or "", meta.uid or "", resource.secret_name
    secret = await deps.secrets.read(namespace, secret_name)
    if manifests.secret_state(secret, key="").controller_uid != uid:
        return  # never touch a Secret this BrokerToken does not own
    if spec.effective_deletion_policy is DeletionPolicy.DELETE:
        await deps.secrets.delete(namespace, secret_name)
        logger.info("Deleted Secret %s/%s (deletionPolicy Delete)", namespace, secret_name)
    else:
        await deps.secrets.orphan(namespace, secret_name, uid)
        logger.info("Kept Secret %s/%s without its owner (deletionPolicy Retain)", namespace, secret_name)
