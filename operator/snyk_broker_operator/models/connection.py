"""The SnykConnection (namespaced) and ClusterSnykConnection (cluster) kinds: where the Snyk API is, and the key.

Both kinds share one spec and one status. The request budget belongs to the API key (Snyk limits per key), so the
Snyk adapter keys its limiter by the key, not by the connection object.
"""

from __future__ import annotations

from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, StrictInt, field_validator, model_validator

from snyk_broker_operator.models.base import ApiModel, ObservedModel
from snyk_broker_operator.models.common import (
    CelRule,
    Condition,
    KubeName,
    ObjectMeta,
    SecretKey,
    Timestamp,
    cel_validations,
)
from snyk_broker_operator.models.enums import ConditionType, Region

__all__ = [
    "DEFAULT_API_TOKEN_KEY",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_REQUESTS_PER_MINUTE",
    "ApiTokenSecretRef",
    "ClusterSnykConnection",
    "RequestBudget",
    "SnykConnection",
    "SnykConnectionSpec",
    "SnykConnectionStatus",
]

DEFAULT_API_TOKEN_KEY: Final = "apiToken"
# Well under Snyk's documented v1 limit of 2,000 requests per minute per key, leaving room for other clients.
DEFAULT_REQUESTS_PER_MINUTE: Final = 600
DEFAULT_MAX_CONCURRENCY: Final = 4
MAX_API_URL_LENGTH = 512
# Plain http only where no token can leave the machine: the simulator and local tests.
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1")

REGION_OR_API_URL = CelRule(
    rule="has(self.region) != has(self.apiUrl)",
    message="exactly one of spec.region or spec.apiUrl must be set",
)
API_URL_SCHEME = CelRule(
    rule=(
        "isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || "
        "(url(self).getScheme() == 'http' && url(self).getHostname() in ['127.0.0.1', 'localhost', '::1']))"
    ),
    message="spec.apiUrl must be an https:// URL (http:// is allowed only for 127.0.0.1, localhost and [::1])",
)
API_URL_PATTERN = r"^https?://[^\s/?#@]+(/[^\s?#]*)?$"


class ApiTokenSecretRef(ApiModel):
    """The Secret holding the Snyk API token (a service-account token is recommended)."""

    name: KubeName = Field(
        description="Name of the Secret: in the SnykConnection's namespace, or for a ClusterSnykConnection in the "
        "operator's own namespace."
    )
    key: SecretKey | None = Field(default=None, description="Key of the API token in the Secret. Default: apiToken.")

    @property
    def effective_key(self) -> str:
        """The key, defaulted."""
        return self.key or DEFAULT_API_TOKEN_KEY


class RequestBudget(ApiModel):
    """Limits on the requests made with this API key, shared by every BrokerToken using the key."""

    # StrictInt: the API server refuses "600" (a string) for an integer field, so the models must not coerce it.
    requests_per_minute: StrictInt | None = Field(
        default=None, ge=1, le=2000, description="Most requests per minute (1 to 2000). Default: 600."
    )
    max_concurrency: StrictInt | None = Field(
        default=None, ge=1, le=64, description="Most requests in flight at once (1 to 64). Default: 4."
    )

    @property
    def effective_requests_per_minute(self) -> int:
        """Requests per minute, defaulted."""
        return self.requests_per_minute or DEFAULT_REQUESTS_PER_MINUTE

    @property
    def effective_max_concurrency(self) -> int:
        """Concurrent requests, defaulted."""
        return self.max_concurrency or DEFAULT_MAX_CONCURRENCY


class SnykConnectionSpec(ApiModel):
    """Where the Snyk API is and which API token to use: exactly one of region or apiUrl."""

    model_config = ConfigDict(json_schema_extra=cel_validations(REGION_OR_API_URL))

    region: Region | None = Field(
        default=None, description="The Snyk region: SNYK-US-01, SNYK-US-02, SNYK-EU-01 or SNYK-AU-01."
    )
    api_url: str | None = Field(
        default=None,
        max_length=MAX_API_URL_LENGTH,
        pattern=API_URL_PATTERN,
        description="Base URL of the Snyk API instead of a region, e.g. https://api.snyk.io (the v1 API is under "
        "/v1 of it); https only, except http for 127.0.0.1, localhost and [::1].",
        json_schema_extra=cel_validations(API_URL_SCHEME),
    )
    api_token_secret_ref: ApiTokenSecretRef = Field(description="The Secret holding the Snyk API token.")
    request_budget: RequestBudget | None = Field(
        default=None, description="Limits on the requests made with the API token. Default: 600 per minute, 4 at once."
    )

    @field_validator("api_url")
    @classmethod
    def _https_unless_loopback(cls, api_url: str | None) -> str | None:
        if api_url is None:
            return None
        parts = urlsplit(api_url)
        # urlsplit lowercases the host name; the API server's CEL url() does not, so compare it as written too.
        loopback = parts.hostname in LOOPBACK_HOSTS and parts.hostname in parts.netloc
        if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
            raise ValueError(API_URL_SCHEME.message)
        return api_url

    @model_validator(mode="after")
    def _region_or_api_url(self) -> SnykConnectionSpec:
        if (self.region is None) == (self.api_url is None):
            raise ValueError(REGION_OR_API_URL.message)
        return self

    @property
    def effective_api_url(self) -> str:
        """The API base URL without a trailing slash: apiUrl, or the region's."""
        if self.api_url is not None:
            return self.api_url.rstrip("/")
        assert self.region is not None  # guaranteed by _region_or_api_url
        return self.region.api_url

    @property
    def effective_request_budget(self) -> RequestBudget:
        """The request budget; its effective_* properties give the defaulted numbers."""
        return self.request_budget or RequestBudget()


class SnykConnectionStatus(ObservedModel):
    """Whether the connection's credentials work."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this status was computed from."
    )
    conditions: tuple[Condition, ...] | None = Field(
        default=None,
        max_length=8,
        description="Ready: True when the API token was accepted at checkedAt.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    checked_at: Timestamp | None = Field(default=None, description="When the credentials were last checked.")
    message: str | None = Field(default=None, description="The outcome of the last check, for a human.")

    def condition(self, condition_type: ConditionType) -> Condition | None:
        """The condition of this type, if present."""
        return next((c for c in self.conditions or () if c.type == condition_type), None)


class SnykConnection(ObservedModel):
    """A whole SnykConnection object as the API server returns it."""

    api_version: Literal["snykbroker.dev/v1alpha1"] = Field(description="The API version.")
    kind: Literal["SnykConnection"] = Field(description="The kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: SnykConnectionSpec = Field(description="The desired state.")
    status: SnykConnectionStatus | None = Field(default=None, description="The observed state.")


class ClusterSnykConnection(ObservedModel):
    """A whole ClusterSnykConnection object as the API server returns it."""

    api_version: Literal["snykbroker.dev/v1alpha1"] = Field(description="The API version.")
    kind: Literal["ClusterSnykConnection"] = Field(description="The kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: SnykConnectionSpec = Field(description="The desired state.")
    status: SnykConnectionStatus | None = Field(default=None, description="The observed state.")
