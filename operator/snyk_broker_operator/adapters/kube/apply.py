"""Server-side apply as the operator's field manager: the one way this adapter writes objects it shares with others.

Forcing is safe because every apply configuration holds only the fields the operator owns (a Secret it made, or a
single pod-template annotation), so it never takes a field away from Argo CD, Flux or a person.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from snyk_broker_operator.adapters.kube.calls import call_json
from snyk_broker_operator.models import OPERATOR_NAME

FIELD_MANAGER = OPERATOR_NAME


async def server_side_apply(patch: Callable[..., Any], body: dict[str, Any]) -> Any:
    """Apply `body` through a client `patch_namespaced_*` method; the object as it is now (plain JSON)."""
    metadata = body["metadata"]
    return await call_json(
        patch,
        metadata["name"],
        metadata["namespace"],
        body,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type="application/apply-patch+yaml",
    )
