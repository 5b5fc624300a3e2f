"""From a BrokerToken's connectionRef to a ready SnykClient: read the connection and its API-token Secret.

Clients are cached per (API URL, key): one httpx client per key, and one rate limiter per key shared by every
BrokerToken using it, since Snyk's limit belongs to the key. A ClusterSnykConnection reads its Secret only from the
operator's own namespace, so a namespaced user cannot point it at someone else's Secret.
"""

from __future__ import annotations

import hashlib

import pydantic
from pydantic import SecretStr

from snyk_broker_operator.adapters.snyk import NO_OBSERVER, LimiterRegistry, RetryPolicy, SnykClient, SnykObserver
from snyk_broker_operator.engine.outcomes import ConnectionUnusable
from snyk_broker_operator.engine.ports import CustomObjects, SecretStore
from snyk_broker_operator.models import (
    CLUSTER_SNYK_CONNECTION_PLURAL,
    SNYK_CONNECTION_PLURAL,
    ClusterSnykConnection,
    SnykConnection,
    SnykConnectionSpec,
)
from snyk_broker_operator.models.enums import ConditionReason, ConnectionKind
from snyk_broker_operator.reconcile import manifests

# A reconcile must not sit in one Snyk call for minutes: give up after ~20 s and retry with backoff instead.
OPERATOR_RETRY_POLICY = RetryPolicy(max_attempts=4, max_elapsed=20.0)

PLURALS = {
    ConnectionKind.SNYK_CONNECTION: SNYK_CONNECTION_PLURAL,
    ConnectionKind.CLUSTER_SNYK_CONNECTION: CLUSTER_SNYK_CONNECTION_PLURAL,
}


class Connections:
    def __init__(
        self,
        *,
        objects: CustomObjects,
        secrets: SecretStore,
        operator_namespace: str,
        snyk_observer: SnykObserver = NO_OBSERVER,
    ) -> None:
        self._objects = objects
        self._secrets = secrets
        self._operator_namespace = operator_namespace
        # Told of every Snyk request, retry and budget wait of every client (the runner wires the metrics).
        self._snyk_observer = snyk_observer
        self._limiters = LimiterRegistry()
        self._clients: dict[tuple[str, str], SnykClient] = {}
        # Which client (URL, key hash) each connection used last: a client no connection uses any more (its key was
        # rotated in the Secret) is closed rather than kept open until shutdown.
        self._used_by: dict[tuple[ConnectionKind, str, str], tuple[str, str]] = {}

    async def spec_of(self, *, kind: ConnectionKind, name: str, namespace: str) -> SnykConnectionSpec:
        cluster = kind is ConnectionKind.CLUSTER_SNYK_CONNECTION
        body = await self._objects.read(plural=PLURALS[kind], name=name, namespace=None if cluster else namespace)
        where = "" if cluster else f" in namespace {namespace!r}"
        if body is None:
            raise ConnectionUnusable(ConditionReason.CONNECTION_NOT_FOUND, f"{kind.value} {name!r} not found{where}")
        model: type[SnykConnection | ClusterSnykConnection] = ClusterSnykConnection if cluster else SnykConnection
        try:
            return model.model_validate(body).spec
        except pydantic.ValidationError as error:
            raise ConnectionUnusable(
                ConditionReason.CONNECTION_NOT_READY,
                f"{kind.value} {name!r} is invalid: {error.error_count()} error(s)",
            ) from None

    async def client_for(self, *, kind: ConnectionKind, name: str, namespace: str) -> SnykClient:
        spec = await self.spec_of(kind=kind, name=name, namespace=namespace)
        secret_namespace = self._operator_namespace if kind is ConnectionKind.CLUSTER_SNYK_CONNECTION else namespace
        ref = spec.api_token_secret_ref
        secret = await self._secrets.read(secret_namespace, ref.name)
        state = manifests.secret_state(secret, key=ref.effective_key)
        if not state.exists:
            raise ConnectionUnusable(
                ConditionReason.CONNECTION_NOT_READY,
                f"{kind.value} {name!r}: API token Secret {ref.name!r} not found in namespace {secret_namespace!r}",
            )
        if state.token is None or not state.token.get_secret_value():
            raise ConnectionUnusable(
                ConditionReason.CONNECTION_NOT_READY,
                f"{kind.value} {name!r}: Secret {ref.name!r} has no key {ref.effective_key!r}",
            )
        client, cache_key = self._client(spec, state.token)
        connection = (kind, "" if kind is ConnectionKind.CLUSTER_SNYK_CONNECTION else namespace, name)
        previous = self._used_by.get(connection)
        self._used_by[connection] = cache_key
        if previous is not None and previous != cache_key and previous not in self._used_by.values():
            stale = self._clients.pop(previous, None)
            if stale is not None:
                await stale.aclose()
        return client

    def _client(self, spec: SnykConnectionSpec, api_key: SecretStr) -> tuple[SnykClient, tuple[str, str]]:
        # spec.apiUrl and the regions name the API's base; the v1 API lives under /v1 of it.
        url = f"{spec.effective_api_url}/v1"
        cache_key = (url, hashlib.sha256(api_key.get_secret_value().encode()).hexdigest())
        budget = spec.effective_request_budget
        limiter = self._limiters.for_key(
            api_key,
            requests_per_minute=budget.effective_requests_per_minute,
            max_concurrency=budget.effective_max_concurrency,
        )
        client = self._clients.get(cache_key)
        if client is None:
            client = SnykClient(
                api_key=api_key,
                api_url=url,
                limiter=limiter,
                retry_policy=OPERATOR_RETRY_POLICY,
                observer=self._snyk_observer,
            )
            self._clients[cache_key] = client
        return client, cache_key

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._used_by.clear()
