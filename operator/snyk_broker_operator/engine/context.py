"""What the steps of one pass share: the intent, the ports they write through, the time, the crash hook, and the
process's held provisional tokens."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from snyk_broker_operator.adapters.kube.errors import Conflict, KubeError
from snyk_broker_operator.engine.outcomes import kube_failure
from snyk_broker_operator.engine.ports import Failpoint, SecretStore, SnykApi, Workloads
from snyk_broker_operator.engine.unsaved import UnsavedGrants
from snyk_broker_operator.reconcile import Custody, Desired, manifests


def no_failpoint(name: str) -> None:
    """The production crash hook: no step ever crashes on purpose."""


class SnykClientFactory:
    """Resolves the Snyk client lazily: a BrokerToken that needs no Snyk call never reads its connection."""

    def __init__(self, resolve: Callable[[], Awaitable[SnykApi]]) -> None:
        self._resolve = resolve
        self._client: SnykApi | None = None

    async def get(self) -> SnykApi:
        if self._client is None:
            self._client = await self._resolve()
        return self._client


@dataclasses.dataclass(frozen=True)
class StepContext:
    desired: Desired
    secrets: SecretStore
    workloads: Workloads
    now: datetime
    # Called with a crash point's name when a step reaches it (tests kill the process there).
    failpoint: Failpoint = no_failpoint
    # Provisional tokens whose save failed in an earlier pass of this process (engine.unsaved).
    unsaved: UnsavedGrants = dataclasses.field(default_factory=UnsavedGrants)

    async def persist_custody(self, custody: Custody, *, existed: bool = True) -> None:
        body = manifests.custody_secret(self.desired, custody)
        await self.write_secret(body, create=not existed, what="the custody Secret")

    async def write_secret(self, body: dict[str, Any], *, create: bool, what: str) -> None:
        """Create (when new) or apply an operator-owned Secret; a create that finds it already there applies."""
        try:
            if create:
                try:
                    await self.secrets.create(body)
                except Conflict:
                    await self.secrets.apply(body)
            else:
                await self.secrets.apply(body)
        except KubeError as error:
            raise kube_failure(error, f"writing {what}") from None
