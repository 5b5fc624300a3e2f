"""Pure: the BrokerToken manifest `kubectl snyk-broker generate` prints, built from the API models.

The spec is built as `BrokerTokenSpec` (so every schema and CEL rule the models mirror is checked) and the whole
object is validated as a `BrokerToken` before it is printed. Fields left out keep their defaults in code, as in
`docs/api.md`: a GitOps tool then sees no drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pydantic

from snyk_broker_operator.models import (
    API_VERSION,
    BROKER_TOKEN_KIND,
    BrokerToken,
    BrokerTokenSpec,
    ConnectionKind,
    KubeName,
)
from snyk_broker_operator.models.common import DNS1123_SUBDOMAIN_PATTERN, GO_DURATION_PATTERN, UUID_PATTERN

_NAME = pydantic.TypeAdapter(KubeName)


@dataclasses.dataclass(frozen=True)
class Request:
    """What the user asked for, as given on the command line."""

    org_id: str
    connection: str
    integration_type: str | None = None
    integration_id: str | None = None
    cluster_connection: bool = False
    name: str | None = None
    namespace: str | None = None
    share_with: Sequence[str] = ()
    rotate_every: str | None = None
    secret_name: str | None = None

    @property
    def default_name(self) -> str:
        """The integration type (`github`), or `integration-` and the first 8 digits of its id."""
        if self.integration_type:
            return self.integration_type
        return f"integration-{(self.integration_id or '')[:8]}"


class Invalid(ValueError):
    """The request cannot make a valid BrokerToken; `str()` lists each problem with the option it came from."""


# Where a model error's location came from on the command line.
_OPTIONS = {
    "orgId": "--org",
    "connectionRef": "--connection",
    "integration": "--integration-type/--integration-id",
    "shareWith": "--share-with",
    "rotation": "--rotate-every",
    "secret": "--secret-name",
}


# Friendlier words for the patterns the models check, keyed by the pattern itself.
_PATTERN_WORDS = {
    UUID_PATTERN: "must be a lowercase UUID (8-4-4-4-12 hex digits), as Snyk shows org and integration ids",
    GO_DURATION_PATTERN: "must be a duration in hours, minutes and seconds, like 2160h, 1h30m or 45s",
    DNS1123_SUBDOMAIN_PATTERN: "must be an object name: lowercase letters, digits, '-' and '.'",
}


def _problems(error: pydantic.ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = [str(part) for part in item["loc"]]
        # A rule over the whole spec (shareWith against orgId) names its fields in its own message.
        option = next((_OPTIONS[part] + ": " for part in location if part in _OPTIONS), "")
        pattern = str((item.get("ctx") or {}).get("pattern") or "")
        message = _PATTERN_WORDS.get(pattern, str(item["msg"]).removeprefix("Value error, "))
        given = item.get("input")
        lines.append(f"{option}{message} (got {given!r})" if isinstance(given, str) else f"{option}{message}")
    return "\n".join(lines)


def spec_of(request: Request) -> BrokerTokenSpec:
    """The spec, validated by the models as one object (so every problem is reported at once); raises Invalid."""
    connection: dict[str, Any] = {"name": request.connection}
    if request.cluster_connection:
        connection["kind"] = ConnectionKind.CLUSTER_SNYK_CONNECTION.value
    integration = {"type": request.integration_type} if request.integration_type else {"id": request.integration_id}
    spec: dict[str, Any] = {
        "connectionRef": connection,
        "orgId": request.org_id,
        "integration": integration,
        "source": {"provision": {}},
    }
    if request.share_with:
        spec["shareWith"] = [{"orgId": org} for org in request.share_with]
    if request.secret_name:
        spec["secret"] = {"name": request.secret_name}
    if request.rotate_every:
        spec["rotation"] = {"every": request.rotate_every}
    try:
        return BrokerTokenSpec.model_validate(spec)
    except pydantic.ValidationError as error:
        raise Invalid(_problems(error)) from None


def manifest(request: Request) -> dict[str, Any]:
    """The BrokerToken object, in the wire form the API server stores (camelCase, unset fields left out)."""
    spec = spec_of(request)
    name = request.name or request.default_name
    try:
        _NAME.validate_python(name)
    except pydantic.ValidationError:
        raise Invalid(
            f"--name: {name!r} is not a valid object name (lowercase letters, digits, '-' and '.', at most 253)"
        ) from None
    metadata: dict[str, Any] = {"name": name}
    if request.namespace:
        metadata["namespace"] = request.namespace
    body = {"apiVersion": API_VERSION, "kind": BROKER_TOKEN_KIND, "metadata": metadata, "spec": spec.to_json_dict()}
    BrokerToken.model_validate(body)  # the whole object, as the operator will read it
    return body
