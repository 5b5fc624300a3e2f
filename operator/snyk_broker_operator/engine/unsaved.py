"""Provisional tokens Snyk issued to this process whose rotation Secret could not be written: held in memory so the
next pass saves them instead of asking Snyk again (Snyk would refuse while one is outstanding, and its API cannot
read the token back)."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

# A rotation: the BrokerToken's namespace and name, and the rotation's start time (a new rotation never matches).
RotationKey = tuple[str, str, datetime | None]


class UnsavedGrants:
    """At most one held token per rotation; a token is handed out once."""

    def __init__(self) -> None:
        self._held: dict[RotationKey, SecretStr] = {}

    def hold(self, key: RotationKey, token: SecretStr) -> None:
        self._held[key] = token

    def take(self, key: RotationKey) -> SecretStr | None:
        return self._held.pop(key, None)
