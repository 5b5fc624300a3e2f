"""The catalogue of Snyk calls this client makes: their names, whether they are idempotent, and the context
(org, integration, ...) each one carries into log lines and error messages.

:mod:`.client` tags every request with a :class:`CallContext`; :mod:`.mapping` and :mod:`.errors` use it to say
which call failed on what; :mod:`.retry` uses :attr:`SnykCall.idempotent` to decide what may be repeated.
"""

from __future__ import annotations

import dataclasses
import enum


class SnykCall(enum.StrEnum):
    """One v1 endpoint as the client uses it. Values match the simulator's endpoint names where they exist."""

    CHECK_CREDENTIALS = "check_credentials"
    LIST_ORGS = "list_orgs"
    LIST_INTEGRATIONS = "list_integrations"
    GET_INTEGRATION_BY_TYPE = "get_integration_by_type"
    ENABLE_BROKER = "enable_broker"
    PROVISION_TOKEN = "provision_token"
    SWITCH_TOKEN = "switch_token"
    CLONE_INTEGRATION = "clone_integration"

    @property
    def idempotent(self) -> bool:
        """True when repeating the request cannot change the outcome (GETs, and the enable-broker PUT).

        Provision, switch and clone change Snyk's state each time they run, so a repeat after an unknown
        outcome could provision a second token, switch twice or clone twice.
        """
        return self not in _NON_IDEMPOTENT

    @property
    def endpoint(self) -> str:
        """Method and path template, for humans reading an error message."""
        return _ENDPOINTS[self]


_NON_IDEMPOTENT = frozenset({SnykCall.PROVISION_TOKEN, SnykCall.SWITCH_TOKEN, SnykCall.CLONE_INTEGRATION})

_ENDPOINTS = {
    SnykCall.CHECK_CREDENTIALS: "GET /user/me",
    SnykCall.LIST_ORGS: "GET /orgs",
    SnykCall.LIST_INTEGRATIONS: "GET /org/{orgId}/integrations",
    SnykCall.GET_INTEGRATION_BY_TYPE: "GET /org/{orgId}/integrations/{type}",
    SnykCall.ENABLE_BROKER: "PUT /org/{orgId}/integrations/{integrationId}",
    SnykCall.PROVISION_TOKEN: "POST /org/{orgId}/integrations/{integrationId}/authentication/provision-token",
    SnykCall.SWITCH_TOKEN: "POST /org/{orgId}/integrations/{integrationId}/authentication/switch-token",
    SnykCall.CLONE_INTEGRATION: "POST /org/{orgId}/integrations/{integrationId}/clone",
}


@dataclasses.dataclass(frozen=True)
class CallContext:
    """What one call is about. Only identifiers live here (never a key or token), so it is safe to print."""

    call: SnykCall
    org_id: str | None = None
    integration_id: str | None = None
    integration_type: str | None = None
    destination_org_id: str | None = None

    def describe(self) -> str:
        """``provision_token (org 1a2b..., integration 3c4d...)``: the call and every identifier it names."""
        parts = [
            f"{label} {value}"
            for label, value in (
                ("org", self.org_id),
                ("integration", self.integration_id),
                ("integration type", self.integration_type),
                ("destination org", self.destination_org_id),
            )
            if value is not None
        ]
        return f"{self.call} ({', '.join(parts)})" if parts else str(self.call)

    def identifiers(self) -> frozenset[str]:
        """The identifiers this call named; the only UUIDs allowed to appear verbatim in an error message."""
        values = (self.org_id, self.integration_id, self.destination_org_id)
        return frozenset(value.lower() for value in values if value is not None)
