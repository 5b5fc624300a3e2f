"""String enums naming the simulator's endpoints, token kinds and token origins (no magic strings elsewhere)."""

from __future__ import annotations

import enum


class EndpointName(enum.StrEnum):
    """The v1 endpoints the simulator serves; fault rules and the call log use these names."""

    USER_ME = "user_me"
    LIST_ORGS = "list_orgs"
    LIST_INTEGRATIONS = "list_integrations"
    ADD_INTEGRATION = "add_integration"
    GET_INTEGRATION_BY_TYPE = "get_integration_by_type"
    UPDATE_INTEGRATION = "update_integration"
    PROVISION_TOKEN = "provision_token"
    SWITCH_TOKEN = "switch_token"
    CLONE_INTEGRATION = "clone_integration"
    GET_INTEGRATION_SETTINGS = "get_integration_settings"
    UPDATE_INTEGRATION_SETTINGS = "update_integration_settings"
    # Any other path under /v1: answered 404 and logged under this name.
    UNKNOWN = "unknown"


ANY_ENDPOINT = "*"
"""The wildcard a fault rule uses to match every endpoint."""


class TokenKind(enum.StrEnum):
    BROKER = "broker"
    PROVISIONAL = "provisional"


class TokenOrigin(enum.StrEnum):
    """Where an issued token came from, so tests can tell API-issued tokens from fixtures."""

    API = "api"
    SEED = "seed"
    ADMIN = "admin"
