"""What :class:`~.client.SnykClient` calls return: small frozen models whose tokens are :class:`SecretStr`.

``repr()``/``str()`` of these show identifiers and token fingerprints, never a token.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

from snyk_broker_operator.adapters.snyk import fingerprint as fingerprints


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Credentials(_Result):
    """Who an API key is (``GET /user/me``) and which orgs it can see."""

    user_id: str
    username: str | None = None
    org_ids: tuple[str, ...] = ()


class Org(_Result):
    """One org an API key can use (``GET /orgs``); ``group_id`` is None for a personal org outside any group."""

    id: str
    name: str | None = None
    slug: str | None = None
    group_id: str | None = None
    group_name: str | None = None


class BrokerTokenGrant(_Result):
    """The broker token Snyk returned when brokering was enabled on an integration."""

    integration_id: str
    token: SecretStr

    @property
    def fingerprint(self) -> str:
        return fingerprints.fingerprint(self.token)


class ProvisionalToken(_Result):
    """A provisional broker token: run broker clients on it, then switch."""

    integration_id: str
    token: SecretStr

    @property
    def fingerprint(self) -> str:
        return fingerprints.fingerprint(self.token)
