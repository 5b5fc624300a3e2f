"""The Snyk v1 Integrations API client: typed calls, an error tree, retries and a per-key limiter.

Public surface (everything else in this package is an implementation detail):

- :class:`SnykClient` (:mod:`.client`): ``check_credentials``, ``list_orgs``, ``list_integrations``,
  ``get_integration_by_type``, ``enable_broker``, ``provision_token``, ``switch_token``, ``clone_integration``.
- Results (:mod:`.results`): :class:`Credentials`, :class:`Org`, :class:`BrokerTokenGrant`, :class:`ProvisionalToken`
  (tokens are ``SecretStr``).
- Errors (:mod:`.errors`, tree drawn there): :class:`SnykError` and its subclasses.
- Pacing and retries: :class:`LimiterRegistry`, :class:`RequestLimiter` (:mod:`.limiter`),
  :class:`RetryPolicy`, :data:`NO_RETRIES` (:mod:`.retry`).
- Observing its traffic: :class:`SnykObserver`, :data:`NO_OBSERVER` (:mod:`.observer`).
- Where: :class:`SnykRegion`, :func:`v1_base_url` (:mod:`.regions`); :class:`SnykCall` (:mod:`.calls`);
  :func:`fingerprint` (``sha256:`` + 12 hex of a secret).
"""

from snyk_broker_operator.adapters.snyk.calls import CallContext, SnykCall
from snyk_broker_operator.adapters.snyk.client import DEFAULT_TIMEOUT, SnykClient
from snyk_broker_operator.adapters.snyk.errors import (
    AmbiguousError,
    AuthenticationError,
    BadRequestError,
    IntegrationConflictError,
    NotFoundError,
    NotFoundSubject,
    NothingToSwitchError,
    PermissionDeniedError,
    ProvisionalTokenOutstandingError,
    RateLimitedError,
    SnykError,
    UnavailableError,
    UnexpectedResponseError,
)
from snyk_broker_operator.adapters.snyk.fingerprint import fingerprint
from snyk_broker_operator.adapters.snyk.limiter import LimiterRegistry, RequestLimiter
from snyk_broker_operator.adapters.snyk.observer import NO_OBSERVER, SnykObserver
from snyk_broker_operator.adapters.snyk.regions import SnykRegion, v1_base_url
from snyk_broker_operator.adapters.snyk.results import BrokerTokenGrant, Credentials, Org, ProvisionalToken
from snyk_broker_operator.adapters.snyk.retry import NO_RETRIES, RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_OBSERVER",
    "NO_RETRIES",
    "AmbiguousError",
    "AuthenticationError",
    "BadRequestError",
    "BrokerTokenGrant",
    "CallContext",
    "Credentials",
    "IntegrationConflictError",
    "LimiterRegistry",
    "NotFoundError",
    "NotFoundSubject",
    "NothingToSwitchError",
    "Org",
    "PermissionDeniedError",
    "ProvisionalToken",
    "ProvisionalTokenOutstandingError",
    "RateLimitedError",
    "RequestLimiter",
    "RetryPolicy",
    "SnykCall",
    "SnykClient",
    "SnykError",
    "SnykObserver",
    "SnykRegion",
    "UnavailableError",
    "UnexpectedResponseError",
    "fingerprint",
    "v1_base_url",
]
