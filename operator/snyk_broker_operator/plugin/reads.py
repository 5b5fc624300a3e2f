"""What the kubectl plugin reads, with the user's own kubeconfig: BrokerTokens, their events, a connection and its
API key (from its Secret), and through that key the orgs and integrations Snyk shows.

I/O only, through the adapters; each failure comes out as one of the errors below, which the commands turn into
exit codes. The API key lives only in a `SecretStr` and in the Snyk client's header: it is never printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pydantic
from pydantic import SecretStr

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.adapters.kube import connect
from snyk_broker_operator.adapters.kube.customobjects import CustomObjects
from snyk_broker_operator.adapters.kube.errors import Forbidden, KubeError
from snyk_broker_operator.adapters.kube.events import EventReader
from snyk_broker_operator.adapters.kube.secrets import SecretStore
from snyk_broker_operator.models import (
    BROKER_TOKEN_PLURAL,
    CLUSTER_SNYK_CONNECTION_PLURAL,
    SNYK_CONNECTION_PLURAL,
    ConnectionKind,
    SnykConnectionSpec,
)
from snyk_broker_operator.reconcile import manifests

# A person is waiting: a few quick retries, not the operator's patience.
PLUGIN_RETRY_POLICY = snyk.RetryPolicy(max_attempts=3, max_elapsed=10.0)


class NotFound(Exception):
    """Something the command needs does not exist (a BrokerToken, a connection, its Secret or key, an org)."""


class Unreachable(Exception):
    """The cluster or Snyk could not be reached, or refused the request (credentials, permissions)."""


@contextlib.asynccontextmanager
async def cluster(kubeconfig: str | None, context: str | None) -> AsyncIterator[Cluster]:
    try:
        api = connect.user_api_client(kubeconfig, context=context)
    except connect.ConfigError as error:
        raise Unreachable(f"no usable kubeconfig: {error}") from None
    try:
        yield Cluster(api)
    except KubeError as error:
        raise Unreachable(f"the Kubernetes API refused or did not answer: {error}") from None
    finally:
        connect.close(api)


class Cluster:
    def __init__(self, api: connect.ApiClient) -> None:
        self._objects = CustomObjects(api)
        self._events = EventReader(api)
        self._secrets = SecretStore(api)

    async def broker_tokens(self, namespace: str | None) -> list[dict[str, Any]]:
        """The BrokerTokens of a namespace, or of all of them (None)."""
        return await self._objects.list(plural=BROKER_TOKEN_PLURAL, namespace=namespace)

    async def broker_tokens_visible(self, namespace: str) -> list[dict[str, Any]]:
        """Every BrokerToken the user may list: all namespaces, or only `namespace` when RBAC allows no more."""
        try:
            return await self.broker_tokens(None)
        except Forbidden:
            return await self.broker_tokens(namespace)

    async def broker_token(self, name: str, namespace: str) -> dict[str, Any]:
        body = await self._objects.read(plural=BROKER_TOKEN_PLURAL, name=name, namespace=namespace)
        if body is None:
            raise NotFound(f"BrokerToken {namespace}/{name} not found")
        return body

    async def events_of(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        meta = body["metadata"]
        return await self._events.list_for(namespace=meta["namespace"], uid=meta["uid"])

    async def connection(self, ref: ConnectionRef) -> Connection:
        """The connection's spec and its API key, read from its Secret."""
        cluster_scoped = ref.kind is ConnectionKind.CLUSTER_SNYK_CONNECTION
        plural = CLUSTER_SNYK_CONNECTION_PLURAL if cluster_scoped else SNYK_CONNECTION_PLURAL
        body = await self._objects.read(
            plural=plural, name=ref.name, namespace=None if cluster_scoped else ref.namespace
        )
        if body is None:
            where = "" if cluster_scoped else f" in namespace {ref.namespace!r}"
            raise NotFound(f"{ref.kind.value} {ref.name!r} not found{where}")
        try:
            spec = SnykConnectionSpec.model_validate(body.get("spec") or {})
        except pydantic.ValidationError as error:
            raise NotFound(
                f"{ref.kind.value} {ref.name!r} has an invalid spec ({error.error_count()} error(s))"
            ) from None
        secret_namespace = ref.operator_namespace if cluster_scoped else ref.namespace
        secret_ref = spec.api_token_secret_ref
        state = manifests.secret_state(
            await self._secrets.read(secret_namespace, secret_ref.name), key=secret_ref.effective_key
        )
        if not state.exists:
            raise NotFound(
                f"{ref.kind.value} {ref.name!r}: API token Secret {secret_ref.name!r} not found in namespace "
                f"{secret_namespace!r}"
            )
        if state.token is None or not state.token.get_secret_value():
            raise NotFound(
                f"{ref.kind.value} {ref.name!r}: Secret {secret_ref.name!r} has no key {secret_ref.effective_key!r}"
            )
        return Connection(ref=ref, spec=spec, api_key=state.token)


@dataclasses.dataclass(frozen=True)
class ConnectionRef:
    kind: ConnectionKind
    name: str
    namespace: str
    operator_namespace: str  # where a ClusterSnykConnection's Secret lives


@dataclasses.dataclass(frozen=True)
class Connection:
    ref: ConnectionRef
    spec: SnykConnectionSpec
    api_key: SecretStr

    def __repr__(self) -> str:
        return f"Connection({self.ref.kind.value}/{self.ref.name}, key {snyk.fingerprint(self.api_key)})"


@contextlib.asynccontextmanager
async def snyk_client(connection: Connection) -> AsyncIterator[snyk.SnykClient]:
    """A Snyk client on the connection's key and budget; Snyk's refusals come out as NotFound or Unreachable."""
    budget = connection.spec.effective_request_budget
    limiter = snyk.LimiterRegistry().for_key(
        connection.api_key,
        requests_per_minute=budget.effective_requests_per_minute,
        max_concurrency=budget.effective_max_concurrency,
    )
    client = snyk.SnykClient(
        api_key=connection.api_key,
        api_url=f"{connection.spec.effective_api_url}/v1",
        limiter=limiter,
        retry_policy=PLUGIN_RETRY_POLICY,
    )
    try:
        yield client
    except snyk.NotFoundError as error:
        raise NotFound(str(error)) from None
    except snyk.SnykError as error:
        raise Unreachable(_for_a_person(error)) from None
    finally:
        await client.aclose()


def _for_a_person(error: snyk.SnykError) -> str:
    """The error's message; for a passing failure, without the operator's promise to retry (a command does not)."""
    text = str(error)
    if isinstance(error, (snyk.UnavailableError, snyk.RateLimitedError)) and error.hint:
        text = text.removesuffix(" " + error.hint) + " Try again later."
    return text
