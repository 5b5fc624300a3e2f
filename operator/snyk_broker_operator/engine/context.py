"""What the steps of a reconcile share: their context, their failures, and the events they report."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from snyk_broker_operator.adapters.kube.errors import KubeApiError
from snyk_broker_operator.adapters.kube.secrets import SecretStore
from snyk_broker_operator.adapters.kube.workloads import Workloads
from snyk_broker_operator.adapters.snyk import SnykClient
from snyk_broker_operator.reconcile import actions, manifests
from snyk_broker_operator.reconcile.desired import Desired
from snyk_broker_operator.reconcile.observed import Custody
from snyk_broker_operator.reconcile.outcome import Failure


class StepFailed(Exception):
    """A step failed for a reason that may pass: retry with backoff."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class StepStalled(Exception):
    """A step cannot succeed until the user changes something."""

    def __init__(self, stall: actions.Stall) -> None:
        super().__init__(stall.message)
        self.stall = stall


@dataclasses.dataclass(frozen=True)
class Notice:
    """An event worth recording on the BrokerToken."""

    reason: str
    message: str
    warning: bool = False


class SnykClientFactory:
    """Resolves the Snyk client lazily: a BrokerToken that needs no Snyk call never reads its connection."""

    def __init__(self, resolve: Callable[[], Awaitable[SnykClient]]) -> None:
        self._resolve = resolve
        self._client: SnykClient | None = None

    async def get(self) -> SnykClient:
        if self._client is None:
            self._client = await self._resolve()
        return self._client


@dataclasses.dataclass
class StepContext:
    desired: Desired
    secrets: SecretStore
    workloads: Workloads
    now: datetime
    # Whether the status already showed a token: a consumer Secret created now is then a restoration.
    had_token: bool
    notices: list[Notice] = dataclasses.field(default_factory=list)
    # Set by a step that needs the cluster to act before anything else can be decided: end the pass, look again then.
    wait_seconds: float | None = None

    async def persist_custody(self, custody: Custody) -> None:
        await persist_custody(self, custody, existed=True)


async def persist_custody(ctx: StepContext, custody: Custody, *, existed: bool) -> None:
    await write_secret(
        ctx, manifests.custody_secret(ctx.desired, custody), create=not existed, what="the custody Secret"
    )


async def write_secret(ctx: StepContext, body: dict[str, Any], *, create: bool, what: str) -> None:
    """Create (when new) or apply an operator-owned Secret; a create that finds it already there applies instead."""
    try:
        if create:
            await ctx.secrets.create(body)
        else:
            await ctx.secrets.apply(body)
    except KubeApiError as error:
        if create and error.status == 409:
            await ctx.secrets.apply(body)
            return
        raise StepFailed(kube_failure(error, f"writing {what}")) from None


def kube_failure(error: KubeApiError, doing: str) -> Failure:
    return Failure(reason="KubernetesError", message=f"{doing} failed: {error.status} {error.reason}")
