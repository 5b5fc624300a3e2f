"""``SnykClient``: the operator's typed, rate-limited, retrying client of the Snyk v1 Integrations API.

One client per connection (API key + base URL), owning one ``httpx.AsyncClient``. Every request waits on the
key's shared :class:`~.limiter.RequestLimiter`; failures are mapped by :mod:`.mapping` into :mod:`.errors` and
retried according to :mod:`.retry`. Request and response bodies are never logged, and tokens leave this module
only as :class:`pydantic.SecretStr` inside :mod:`.results` models.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as random_module
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, TypeVar

import httpx
import pydantic
from pydantic import SecretStr

import snyk_broker_operator
from snyk_broker_operator.adapters.snyk import errors, fingerprint, mapping, regions, results, retry, wire
from snyk_broker_operator.adapters.snyk import limiter as limiters
from snyk_broker_operator.adapters.snyk.calls import CallContext, SnykCall
from snyk_broker_operator.adapters.snyk.observer import NO_OBSERVER, SnykObserver

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Connect within 5 s; 30 s for each read, write and pool wait."""

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
USER_AGENT = f"snyk-broker-operator/{snyk_broker_operator.__version__}"

_Model = TypeVar("_Model", bound=pydantic.BaseModel)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SnykClient:
    """Typed calls to the Snyk v1 Integrations API for one API key.

    Usage::

        registry = LimiterRegistry()                      # one per operator
        key = SecretStr(api_token)
        async with SnykClient(api_key=key, region="SNYK-EU-01", limiter=registry.for_key(key)) as snyk:
            integration_id = await snyk.get_integration_by_type(org_id=org, integration_type="github")

    **Parameters:**

    * **api_key** - the Snyk API token, sent as ``Authorization: token <key>``.
    * **limiter** - the key's :class:`~.limiter.RequestLimiter`, from a shared :class:`~.limiter.LimiterRegistry`.
    * **region** / **api_url** - where the v1 API lives (default SNYK-US-01); give at most one.
    * **retry_policy** - how hard to retry (:class:`~.retry.RetryPolicy`).
    * **timeout** - httpx timeouts (default: connect 5 s, read/write/pool 30 s).
    * **transport** - an ``httpx.AsyncBaseTransport`` to use instead of the network (tests).
    * **observer** - told of every request, retry and wait on the limiter (:mod:`.observer`; default: nobody).
    """

    def __init__(
        self,
        *,
        api_key: SecretStr,
        limiter: limiters.RequestLimiter,
        region: regions.SnykRegion | str | None = None,
        api_url: str | None = None,
        retry_policy: retry.RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        random: Callable[[], float] = random_module.random,  # injected by tests: backoff jitter
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # injected by tests: waits between attempts
        clock: Callable[[], float] = time.monotonic,  # injected by tests: elapsed time of a call
        now: Callable[[], datetime] = _utc_now,  # injected by tests: reads Retry-After dates
        observer: SnykObserver = NO_OBSERVER,
    ) -> None:
        if not isinstance(api_key, SecretStr):
            raise TypeError("api_key must be a pydantic.SecretStr")
        base_url = regions.v1_base_url(region=region, api_url=api_url)
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError("the Snyk API URL must start with https:// (or http:// for a local simulator)")
        self._api_key = api_key
        self._key_fingerprint = fingerprint.fingerprint(api_key)
        self._limiter = limiter
        self._retry = retry_policy or retry.RetryPolicy()
        self._random = random
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._observer = observer
        self._base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"token {api_key.get_secret_value()}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,  # a redirect would carry the Authorization header somewhere unexpected
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def key_fingerprint(self) -> str:
        return self._key_fingerprint

    @property
    def limiter(self) -> limiters.RequestLimiter:
        return self._limiter

    def __repr__(self) -> str:
        return f"SnykClient(base_url={self._base_url!r}, key={self._key_fingerprint})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # The calls

    async def check_credentials(self) -> results.Credentials:
        """Who the API key belongs to and which orgs it can see (``GET /user/me``)."""
        context = CallContext(SnykCall.CHECK_CREDENTIALS)
        response = await self._exchange(context, "GET", "/user/me")
        user = self._parse(wire.UserMeResponse, response, context, what="the user could not be read")
        return results.Credentials(user_id=user.id, username=user.username, org_ids=tuple(org.id for org in user.orgs))

    async def list_orgs(self) -> tuple[results.Org, ...]:
        """Every org the API key can use, in Snyk's order (``GET /orgs``)."""
        context = CallContext(SnykCall.LIST_ORGS)
        response = await self._exchange(context, "GET", "/orgs")
        listing = self._parse(wire.OrgListResponse, response, context, what="the org list could not be read")
        return tuple(
            results.Org(
                id=org.id,
                name=org.name,
                slug=org.slug,
                group_id=org.group.id if org.group else None,
                group_name=org.group.name if org.group else None,
            )
            for org in listing.orgs
        )

    async def list_integrations(self, *, org_id: str) -> dict[str, str]:
        """Integration type -> integration id for every integration of the org."""
        context = CallContext(SnykCall.LIST_INTEGRATIONS, org_id=org_id)
        response = await self._exchange(context, "GET", _path("org", org_id, "integrations"))
        listing = self._parse(
            wire.IntegrationListResponse, response, context, what="the integration list could not be read"
        )
        return dict(listing.root)

    async def get_integration_by_type(self, *, org_id: str, integration_type: str) -> str:
        """The id of the org's integration of this type (e.g. ``github``)."""
        context = CallContext(SnykCall.GET_INTEGRATION_BY_TYPE, org_id=org_id, integration_type=integration_type)
        response = await self._exchange(context, "GET", _path("org", org_id, "integrations", integration_type))
        found = self._parse(wire.IntegrationIdResponse, response, context, what="the integration id was missing")
        return found.id

    async def enable_broker(
        self, *, org_id: str, integration_id: str, integration_type: str
    ) -> results.BrokerTokenGrant:
        """Turn brokering on for the integration and return its broker token (``PUT`` with broker.enabled)."""
        context = CallContext(
            SnykCall.ENABLE_BROKER, org_id=org_id, integration_id=integration_id, integration_type=integration_type
        )
        body = wire.EnableBrokerRequest(type=integration_type)
        response = await self._exchange(context, "PUT", _path("org", org_id, "integrations", integration_id), body=body)
        grant = self._parse(wire.BrokerTokenResponse, response, context, what="the broker token was missing")
        return results.BrokerTokenGrant(integration_id=grant.id, token=grant.broker_token)

    async def provision_token(self, *, org_id: str, integration_id: str) -> results.ProvisionalToken:
        """Ask Snyk for a provisional broker token (one per Group at a time). Never repeated blindly."""
        context = CallContext(SnykCall.PROVISION_TOKEN, org_id=org_id, integration_id=integration_id)
        path = _path("org", org_id, "integrations", integration_id, "authentication", "provision-token")
        response = await self._exchange(context, "POST", path)
        issued = self._parse(wire.ProvisionalTokenResponse, response, context, what="the provisional token was missing")
        return results.ProvisionalToken(integration_id=issued.id, token=issued.provisional_broker_token)

    async def switch_token(self, *, org_id: str, integration_id: str) -> None:
        """Make the provisional token the broker token of this integration and every one sharing it."""
        context = CallContext(SnykCall.SWITCH_TOKEN, org_id=org_id, integration_id=integration_id)
        path = _path("org", org_id, "integrations", integration_id, "authentication", "switch-token")
        await self._exchange(context, "POST", path)

    async def clone_integration(self, *, org_id: str, integration_id: str, destination_org_id: str) -> str:
        """Copy the integration (settings and broker token) into another org of the Group; the new id."""
        context = CallContext(
            SnykCall.CLONE_INTEGRATION,
            org_id=org_id,
            integration_id=integration_id,
            destination_org_id=destination_org_id,
        )
        body = wire.CloneRequest(destination_org_public_id=destination_org_id)
        path = _path("org", org_id, "integrations", integration_id, "clone")
        response = await self._exchange(context, "POST", path, body=body)
        cloned = self._parse(wire.CloneResponse, response, context, what="the new integration id was missing")
        return cloned.new_integration_id

    # The machinery

    async def _exchange(
        self, context: CallContext, method: str, path: str, *, body: pydantic.BaseModel | None = None
    ) -> httpx.Response:
        """Send until a 2xx arrives or the retry policy gives up; raises the last mapped error."""
        started = self._clock()
        attempts_made = 0
        while True:
            attempts_made += 1
            outcome = await self._attempt(context, method, path, body)
            if isinstance(outcome, httpx.Response):
                return outcome
            rand = self._random()
            if isinstance(outcome, errors.RateLimitedError):
                # The budget belongs to the key: every client of it holds back, not only this call.
                self._limiter.defer(self._retry.rate_limit_wait(retry_after=outcome.retry_after, rand=rand))
            delay = self._retry.next_delay(
                outcome, attempts_made=attempts_made, elapsed=self._clock() - started, rand=rand
            )
            if delay is None:
                raise outcome
            logger.warning(
                "Snyk %s: %s%s; retrying in %.2f s (attempt %d of %d)",
                context.describe(),
                type(outcome).__name__,
                "" if outcome.status_code is None else f" (HTTP {outcome.status_code})",
                delay,
                attempts_made + 1,
                self._retry.max_attempts,
            )
            self._observer.retrying(call=context.call.value)
            await self._sleep(delay)

    async def _attempt(
        self, context: CallContext, method: str, path: str, body: pydantic.BaseModel | None
    ) -> httpx.Response | errors.SnykError:
        content = None if body is None else body.model_dump_json(by_alias=True).encode("utf-8")
        headers = None if content is None else {"Content-Type": JSON_CONTENT_TYPE}
        call = context.call.value
        queued_at = self._clock()
        async with self._limiter.acquire():
            sent_at = self._clock()
            if sent_at > queued_at:
                self._observer.waited_for_budget(seconds=sent_at - queued_at)
            try:
                response = await self._http.request(method, path, content=content, headers=headers)
            except httpx.TransportError as exc:
                self._observer.request_finished(call=call, status_code=None, seconds=self._clock() - sent_at)
                logger.debug("Snyk %s: no answer (%s)", context.describe(), type(exc).__name__)
                return mapping.error_from_transport(exc, context=context)
            answered = self._clock() - sent_at
            self._observer.request_finished(call=call, status_code=response.status_code, seconds=answered)
        logger.debug("Snyk %s: HTTP %d", context.describe(), response.status_code)
        if response.is_success:
            return response
        return mapping.error_from_response(
            response, context=context, now=self._now(), secrets=(self._api_key.get_secret_value(),)
        )

    @staticmethod
    def _parse(model: type[_Model], response: httpx.Response, context: CallContext, *, what: str) -> _Model:
        # The parser's own message may quote the body (a token), so it is dropped, and the error is raised
        # outside the except block so that it does not even keep the parser's exception as __context__.
        with contextlib.suppress(pydantic.ValidationError):
            return model.model_validate_json(response.content)
        raise mapping.unreadable_success(context, status_code=response.status_code, what=what)


def _path(*segments: str) -> str:
    """``/seg1/seg2/...`` with every segment percent-encoded, so an identifier can never change the route."""
    return "/" + "/".join(urllib.parse.quote(segment, safe="") for segment in segments)
