"""When a BrokerToken is deleted: keep (orphan) or delete its consumer Secret, per spec.deletionPolicy.

Kubernetes calls only: deletion never waits on Snyk, so a broken connection can never block it. The custody copy
is owned by the BrokerToken and goes with it through garbage collection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.models.enums import DeletionPolicy
from snyk_broker_operator.reconcile import manifests

logger = logging.getLogger(__name__)


async def release_secret(body: Mapping[str, Any], deps: Dependencies) -> None:
    metadata = body.get("metadata", {})
    spec = body.get("spec", {})
    namespace, name, uid = metadata.get("namespace", ""), metadata.get("name", ""), metadata.get("uid", "")
    secret_name = (spec.get("secret") or {}).get("name") or name
    policy = spec.get("deletionPolicy") or DeletionPolicy.RETAIN.value
    secret = await deps.secrets.read(namespace, secret_name)
    state = manifests.secret_state(secret, key="")
    if state.controller_uid != uid:
        return  # never touch a Secret this BrokerToken does not own
    if policy == DeletionPolicy.DELETE.value:
        await deps.secrets.delete(namespace, secret_name)
        logger.info("Deleted Secret %s/%s (deletionPolicy Delete)", namespace, secret_name)
    else:
        await deps.secrets.orphan(namespace, secret_name, uid)
        logger.info("Kept Secret %s/%s without its owner (deletionPolicy Retain)", namespace, secret_name)
