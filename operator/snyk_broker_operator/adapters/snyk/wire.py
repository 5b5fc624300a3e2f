"""Pydantic models of the Snyk v1 JSON this client sends and reads (the wire format, camelCase as Snyk spells it).

Tokens become :class:`pydantic.SecretStr` the moment a body is parsed, so no code past this module ever holds one
as a plain string. Unknown fields are ignored (Snyk may add some). Used only by :mod:`.client` and
:mod:`.mapping`; callers get the models of :mod:`.results` instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel, SecretStr


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# Requests


class BrokerSettings(_Wire):
    enabled: bool


class EnableBrokerRequest(_Wire):
    """``PUT /org/{orgId}/integrations/{integrationId}`` body that turns brokering on."""

    type: str
    broker: BrokerSettings = BrokerSettings(enabled=True)


class CloneRequest(_Wire):
    destination_org_public_id: str = Field(alias="destinationOrgPublicId")


# Responses


class UserOrg(_Wire):
    id: str
    name: str | None = None


class UserMeResponse(_Wire):
    """``GET /user/me``: the key's user (or service account) and the orgs it can see."""

    id: str
    username: str | None = None
    orgs: list[UserOrg] = []


class OrgGroup(_Wire):
    id: str
    name: str | None = None


class Org(_Wire):
    id: str
    name: str | None = None
    slug: str | None = None
    url: str | None = None
    group: OrgGroup | None = None  # null for a personal org outside any group


class OrgListResponse(_Wire):
    """``GET /orgs``: the orgs the key can use."""

    orgs: list[Org] = []


class IntegrationListResponse(RootModel[dict[str, str]]):
    """``GET /org/{orgId}/integrations``: a flat map of integration type to integration id."""


class IntegrationIdResponse(_Wire):
    """``GET /org/{orgId}/integrations/{type}``: ``{"id": ...}``."""

    id: str


class BrokerTokenResponse(_Wire):
    """``PUT .../{integrationId}`` with ``broker.enabled=true``: the integration id and its broker token."""

    id: str
    broker_token: SecretStr = Field(alias="brokerToken")


class ProvisionalTokenResponse(_Wire):
    """``POST .../authentication/provision-token``."""

    id: str
    provisional_broker_token: SecretStr = Field(alias="provisionalBrokerToken")


class CloneResponse(_Wire):
    new_integration_id: str = Field(alias="newIntegrationId")


class ErrorBody(_Wire):
    """The v1 error body ``{"code", "message", "error"}``; only the human-readable fields are kept."""

    message: str | None = None
    error: str | None = None
