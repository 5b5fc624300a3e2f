"""Turns a failed HTTP exchange into the right :mod:`.errors` exception, with a message safe to show anyone.

Two entry points, both pure: :func:`error_from_response` (Snyk answered with a non-2xx status) and
:func:`error_from_transport` (no answer). What Snyk said is taken only from the ``message``/``error`` fields of
the v1 error body, shortened, and stripped of anything that looks like a secret: every UUID except the ones the
call itself named or that the text labels as an org/integration/group id (Snyk keys and broker tokens are
UUIDs), every long opaque string, and any string the caller
lists as secret. A response body is never copied into an exception otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from http import HTTPStatus

import httpx
import pydantic

from snyk_broker_operator.adapters.snyk import errors, retry, wire
from snyk_broker_operator.adapters.snyk.calls import CallContext, SnykCall

MAX_MESSAGE_LENGTH = 240
MASK = "<redacted>"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Long runs of token-ish characters (no hyphen, so UUIDs are left to the pattern above). Only runs that
# contain a digit are masked, so long English identifiers such as "ProvisionalTokenAlreadyExists" survive.
_OPAQUE = re.compile(r"[A-Za-z0-9+/=_]{24,}")
_WHITESPACE = re.compile(r"\s+")
# A UUID right after one of these words is an identifier ("integration 3f0b...", "(org 3f0b..."), which a
# human needs to see; any other UUID might be a token or a key (both are UUIDs at Snyk) and is masked.
_ID_LABEL = re.compile(r"\b(?:org|organization|integration|group|project)\s+(?:id\s+)?\(?$", re.IGNORECASE)

# Transport failures that prove the request never reached Snyk: no connection was ever made for it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Calls whose path names no org or integration: a 404 there means the URL is wrong, not that something is missing.
_NO_SUBJECT = frozenset({SnykCall.CHECK_CREDENTIALS, SnykCall.LIST_ORGS})

_TRANSPORT_DETAILS: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectTimeout, "connecting timed out"),
    (httpx.ConnectError, "the connection could not be made"),
    (httpx.PoolTimeout, "no connection became free in time"),
    (httpx.ReadTimeout, "no answer arrived before the read timeout"),
    (httpx.WriteTimeout, "sending the request timed out"),
    (httpx.RemoteProtocolError, "the connection broke or Snyk's answer was malformed"),
    (httpx.ReadError, "reading the answer failed"),
    (httpx.WriteError, "sending the request failed"),
)


def sanitize_message(text: str, *, context: CallContext, secrets: Collection[str] = ()) -> str | None:
    """Snyk's error text made safe for a condition: one line, bounded, with likely secrets masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    allowed = context.identifiers()

    def keep_or_mask(match: re.Match[str]) -> str:
        found = match.group(0)
        labelled = _ID_LABEL.search(match.string, 0, match.start()) is not None
        return found if found.lower() in allowed or labelled else MASK

    text = _UUID.sub(keep_or_mask, text)
    text = _OPAQUE.sub(lambda match: MASK if _has_digit(match.group(0)) else match.group(0), text)
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[: MAX_MESSAGE_LENGTH - 1] + "…"
    return text or None


def _has_digit(run: str) -> bool:
    return any(character.isdigit() for character in run)


def snyk_message(response: httpx.Response, *, context: CallContext, secrets: Collection[str] = ()) -> str | None:
    """The ``message`` (else ``error``) field of a v1 error body, sanitized; ``None`` when there is none."""
    try:
        body = wire.ErrorBody.model_validate_json(response.content)
    except (pydantic.ValidationError, ValueError):
        return None
    text = body.message or body.error
    return None if text is None else sanitize_message(text, context=context, secrets=secrets)


def error_from_response(
    response: httpx.Response, *, context: CallContext, now: datetime, secrets: Collection[str] = ()
) -> errors.SnykError:
    """The exception for a non-2xx answer to ``context.call``."""
    status = response.status_code
    said = snyk_message(response, context=context, secrets=secrets)
    call = context.call
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        retry_after = retry.parse_retry_after(response.headers.get("Retry-After"), now=now)
        return errors.RateLimitedError(context, retry_after=retry_after, status_code=status, snyk_message=said)
    if status == HTTPStatus.UNAUTHORIZED:
        return errors.AuthenticationError(context, status_code=status, snyk_message=said)
    if status == HTTPStatus.FORBIDDEN:
        return errors.PermissionDeniedError(
            context, org_id=_denied_org(context, said), status_code=status, snyk_message=said
        )
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        if call.idempotent:
            return errors.UnavailableError(context, status_code=status, snyk_message=said)
        return errors.AmbiguousError(
            context, status_code=status, snyk_message=said, detail="a server error does not say whether it acted"
        )
    if call is SnykCall.PROVISION_TOKEN and status == HTTPStatus.CONFLICT:
        return errors.ProvisionalTokenOutstandingError(context, status_code=status, snyk_message=said)
    if call is SnykCall.CLONE_INTEGRATION and status == HTTPStatus.CONFLICT:
        return errors.IntegrationConflictError(context, status_code=status, snyk_message=said)
    if call is SnykCall.SWITCH_TOKEN and _says_nothing_to_switch(status, said):
        return errors.NothingToSwitchError(context, status_code=status, snyk_message=said)
    if status == HTTPStatus.NOT_FOUND and call not in _NO_SUBJECT:
        return errors.NotFoundError(
            context, subject=_missing_subject(context, said), status_code=status, snyk_message=said
        )
    detail = "is the API URL right?" if status == HTTPStatus.NOT_FOUND else None
    return errors.BadRequestError(context, status_code=status, snyk_message=said, detail=detail)


def error_from_transport(exc: httpx.TransportError, *, context: CallContext) -> errors.SnykError:
    """The exception for a request that got no answer.

    A call that is safe to repeat, or a request that provably never left, is :class:`~.errors.UnavailableError`
    (retryable); a provision/switch/clone that may have reached Snyk is :class:`~.errors.AmbiguousError`.
    """
    what = next((text for kind, text in _TRANSPORT_DETAILS if isinstance(exc, kind)), type(exc).__name__)
    if context.call.idempotent or isinstance(exc, _NEVER_SENT):
        return errors.UnavailableError(context, detail=what)
    return errors.AmbiguousError(context, detail=f"{what} after the request was sent")


def unreadable_success(context: CallContext, *, status_code: int, what: str) -> errors.SnykError:
    """The exception for a 2xx whose body could not be read. Never carries the body or the parser's text."""
    if context.call.idempotent:
        return errors.UnexpectedResponseError(context, status_code=status_code, detail=what)
    return errors.AmbiguousError(
        context, status_code=status_code, detail=f"Snyk accepted the request but {what}, so its result is lost"
    )


def _says_nothing_to_switch(status: int, said: str | None) -> bool:
    if status == HTTPStatus.BAD_REQUEST:
        return True
    return status == HTTPStatus.NOT_FOUND and said is not None and "provision" in said.lower()


def _missing_subject(context: CallContext, said: str | None) -> errors.NotFoundSubject:
    text = (said or "").lower()
    if context.call is SnykCall.LIST_INTEGRATIONS:
        return errors.NotFoundSubject.ORG
    if context.destination_org_id and context.destination_org_id.lower() in text:
        return errors.NotFoundSubject.DESTINATION_ORG
    if "org" in text and "integration" not in text:
        return errors.NotFoundSubject.ORG
    if context.call is SnykCall.GET_INTEGRATION_BY_TYPE:
        return errors.NotFoundSubject.INTEGRATION_TYPE
    return errors.NotFoundSubject.INTEGRATION


def _denied_org(context: CallContext, said: str | None) -> str | None:
    if context.destination_org_id and said and context.destination_org_id.lower() in said.lower():
        return context.destination_org_id
    return context.org_id
