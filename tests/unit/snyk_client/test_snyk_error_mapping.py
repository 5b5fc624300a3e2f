"""Status codes and transport failures map to the right error, with a message a human can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from snyk_broker_operator.adapters.snyk import errors, mapping
from snyk_broker_operator.adapters.snyk.calls import CallContext, SnykCall

ORG = "0a0a0a0a-0000-4000-8000-000000000001"
DEST = "0d0d0d0d-0000-4000-8000-000000000002"
INTEGRATION = "01010101-0000-4000-8000-000000000003"
SECRET_UUID = "5ec12e70-dead-4bee-8f00-000000000abc"
OTHER = "07e07e07-0000-4000-8000-000000000004"
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def context(call: SnykCall) -> CallContext:
    return CallContext(
        call,
        org_id=ORG,
        integration_id=None if call in (SnykCall.LIST_INTEGRATIONS, SnykCall.GET_INTEGRATION_BY_TYPE) else INTEGRATION,
        integration_type="github" if call in (SnykCall.GET_INTEGRATION_BY_TYPE, SnykCall.ENABLE_BROKER) else None,
        destination_org_id=DEST if call is SnykCall.CLONE_INTEGRATION else None,
    )


def answer(status: int, message: str | None = None, **headers: str) -> httpx.Response:
    body = {} if message is None else {"code": status, "message": message, "error": message}
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


CASES = [
    (SnykCall.LIST_INTEGRATIONS, 401, errors.AuthenticationError),
    (SnykCall.PROVISION_TOKEN, 403, errors.PermissionDeniedError),
    (SnykCall.LIST_INTEGRATIONS, 404, errors.NotFoundError),
    (SnykCall.PROVISION_TOKEN, 409, errors.ProvisionalTokenOutstandingError),
    (SnykCall.SWITCH_TOKEN, 400, errors.NothingToSwitchError),
    (SnykCall.CLONE_INTEGRATION, 409, errors.IntegrationConflictError),
    (SnykCall.ENABLE_BROKER, 409, errors.BadRequestError),
    (SnykCall.ENABLE_BROKER, 422, errors.BadRequestError),
    (SnykCall.GET_INTEGRATION_BY_TYPE, 429, errors.RateLimitedError),
    (SnykCall.SWITCH_TOKEN, 429, errors.RateLimitedError),
    (SnykCall.GET_INTEGRATION_BY_TYPE, 503, errors.UnavailableError),
    (SnykCall.ENABLE_BROKER, 500, errors.UnavailableError),
    (SnykCall.PROVISION_TOKEN, 500, errors.AmbiguousError),
    (SnykCall.SWITCH_TOKEN, 502, errors.AmbiguousError),
    (SnykCall.CLONE_INTEGRATION, 504, errors.AmbiguousError),
    (SnykCall.CHECK_CREDENTIALS, 404, errors.BadRequestError),
    (SnykCall.LIST_ORGS, 404, errors.BadRequestError),
    (SnykCall.LIST_ORGS, 401, errors.AuthenticationError),
    (SnykCall.LIST_ORGS, 503, errors.UnavailableError),
]


@pytest.mark.parametrize(
    ("call", "status", "expected"), CASES, ids=[f"{call} {status} is {kind.__name__}" for call, status, kind in CASES]
)
def test_status_maps_to_error(call: SnykCall, status: int, expected: type[errors.SnykError]) -> None:
    error = mapping.error_from_response(answer(status, "computer says no"), context=context(call), now=NOW)
    assert type(error) is expected
    assert error.status_code == status
    assert str(call) in str(error)
    assert "computer says no" in str(error)


def test_message_names_the_call_the_identifiers_and_what_snyk_said() -> None:
    error = mapping.error_from_response(
        answer(409, "Provisional token already exists in group"), context=context(SnykCall.PROVISION_TOKEN), now=NOW
    )
    text = str(error)
    assert text.startswith(f"Snyk provision_token (org {ORG}, integration {INTEGRATION}):")
    assert 'Snyk said: "Provisional token already exists in group".' in text
    assert "(HTTP 409)" in text


@pytest.mark.parametrize(
    ("call", "message", "subject"),
    [
        (SnykCall.LIST_INTEGRATIONS, "Org not found", errors.NotFoundSubject.ORG),
        (
            SnykCall.GET_INTEGRATION_BY_TYPE,
            "Integration type github not found",
            errors.NotFoundSubject.INTEGRATION_TYPE,
        ),
        (SnykCall.GET_INTEGRATION_BY_TYPE, f"Org {ORG} not found", errors.NotFoundSubject.ORG),
        (
            SnykCall.PROVISION_TOKEN,
            f"Integration {INTEGRATION} not found in org {ORG}",
            errors.NotFoundSubject.INTEGRATION,
        ),
        (SnykCall.ENABLE_BROKER, f"Org {ORG} not found", errors.NotFoundSubject.ORG),
        (SnykCall.CLONE_INTEGRATION, f"Org {DEST} not found", errors.NotFoundSubject.DESTINATION_ORG),
        (SnykCall.SWITCH_TOKEN, None, errors.NotFoundSubject.INTEGRATION),
    ],
    ids=[
        "list: org",
        "by type: type",
        "by type: org",
        "provision: integration",
        "enable: org",
        "clone: dest",
        "no body",
    ],
)
def test_not_found_says_what_is_missing(call: SnykCall, message: str | None, subject: errors.NotFoundSubject) -> None:
    error = mapping.error_from_response(answer(404, message), context=context(call), now=NOW)
    assert isinstance(error, errors.NotFoundError)
    assert error.subject is subject
    assert str(subject) in str(error)


def test_switch_404_that_talks_about_provisional_token_is_nothing_to_switch() -> None:
    error = mapping.error_from_response(
        answer(404, "No provisional token found"), context=context(SnykCall.SWITCH_TOKEN), now=NOW
    )
    assert isinstance(error, errors.NothingToSwitchError)


def test_permission_denied_names_the_org_snyk_refused() -> None:
    own = mapping.error_from_response(answer(403, "no"), context=context(SnykCall.CLONE_INTEGRATION), now=NOW)
    dest = mapping.error_from_response(
        answer(403, f"The API key has no access to org {DEST}"), context=context(SnykCall.CLONE_INTEGRATION), now=NOW
    )
    assert isinstance(own, errors.PermissionDeniedError) and own.org_id == ORG
    assert isinstance(dest, errors.PermissionDeniedError) and dest.org_id == DEST
    assert isinstance(dest, errors.AuthenticationError)
    assert f"no access to org {DEST}" in str(dest)


def test_rate_limited_carries_retry_after() -> None:
    with_header = mapping.error_from_response(
        answer(429, "Too many requests", **{"Retry-After": "3"}), context=context(SnykCall.LIST_INTEGRATIONS), now=NOW
    )
    without = mapping.error_from_response(answer(429), context=context(SnykCall.LIST_INTEGRATIONS), now=NOW)
    assert isinstance(with_header, errors.RateLimitedError) and with_header.retry_after == 3.0
    assert "retry after 3 s" in str(with_header)
    assert isinstance(without, errors.RateLimitedError) and without.retry_after is None


def test_body_without_v1_fields_or_not_json_gives_no_snyk_message() -> None:
    for response in (httpx.Response(500, content=b"<html>oops</html>"), httpx.Response(500, content=b"[1, 2]")):
        error = mapping.error_from_response(response, context=context(SnykCall.LIST_INTEGRATIONS), now=NOW)
        assert error.snyk_message is None
        assert "Snyk said" not in str(error)


def test_only_message_fields_of_an_error_body_are_read() -> None:
    body = {"code": 400, "message": "bad", "brokerToken": SECRET_UUID, "details": {"token": "abc"}}
    error = mapping.error_from_response(
        httpx.Response(400, content=json.dumps(body).encode()), context=context(SnykCall.ENABLE_BROKER), now=NOW
    )
    assert SECRET_UUID not in str(error)
    assert "abc" not in str(error)


@pytest.mark.parametrize(
    ("said", "kept", "masked"),
    [
        (f"token {SECRET_UUID} already used in org {ORG}", [ORG], [SECRET_UUID]),
        (f"TOKEN {SECRET_UUID.upper()} bad", [], [SECRET_UUID.upper()]),
        ("key abcdef0123456789abcdef0123456789 refused", [], ["abcdef0123456789abcdef0123456789"]),
        ("ProvisionalBrokerTokenAlreadyExistsInGroup", ["ProvisionalBrokerTokenAlreadyExistsInGroup"], []),
        ("the key sim-key-alpha is revoked", [], ["sim-key-alpha"]),
        (f"outstanding in this group (integration {OTHER})", [OTHER], []),
        (f"Integration {OTHER} token {SECRET_UUID}", [OTHER], [SECRET_UUID]),
    ],
    ids=[
        "foreign uuid",
        "upper-case uuid",
        "opaque hex",
        "long word kept",
        "caller's secret",
        "labelled id kept",
        "labelled id kept, token masked",
    ],
)
def test_snyk_message_is_sanitized(said: str, kept: list[str], masked: list[str]) -> None:
    text = mapping.sanitize_message(said, context=context(SnykCall.PROVISION_TOKEN), secrets=("sim-key-alpha",))
    assert text is not None
    for value in kept:
        assert value in text
    for value in masked:
        assert value not in text
    assert mapping.MASK in text or not masked


def test_snyk_message_is_one_bounded_line() -> None:
    text = mapping.sanitize_message("a\n\tb " + "x " * 500, context=context(SnykCall.SWITCH_TOKEN))
    assert text is not None
    assert "\n" not in text
    assert len(text) <= mapping.MAX_MESSAGE_LENGTH


REQUEST = httpx.Request("POST", "https://api.snyk.io/v1/x")
NEVER_SENT = [
    httpx.ConnectError("refused", request=REQUEST),
    httpx.ConnectTimeout("t", request=REQUEST),
    httpx.PoolTimeout("p", request=REQUEST),
]
MAYBE_SENT = [
    httpx.ReadTimeout("t", request=REQUEST),
    httpx.WriteTimeout("t", request=REQUEST),
    httpx.ReadError("r", request=REQUEST),
    httpx.WriteError("w", request=REQUEST),
    httpx.RemoteProtocolError("closed", request=REQUEST),
]


@pytest.mark.parametrize("exc", NEVER_SENT + MAYBE_SENT, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("call", [SnykCall.LIST_INTEGRATIONS, SnykCall.ENABLE_BROKER], ids=str)
def test_transport_failures_of_idempotent_calls_are_unavailable(exc: httpx.TransportError, call: SnykCall) -> None:
    assert type(mapping.error_from_transport(exc, context=context(call))) is errors.UnavailableError


@pytest.mark.parametrize("exc", NEVER_SENT, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("call", [SnykCall.PROVISION_TOKEN, SnykCall.SWITCH_TOKEN, SnykCall.CLONE_INTEGRATION], ids=str)
def test_non_idempotent_call_that_never_left_is_unavailable(exc: httpx.TransportError, call: SnykCall) -> None:
    assert type(mapping.error_from_transport(exc, context=context(call))) is errors.UnavailableError


@pytest.mark.parametrize("exc", MAYBE_SENT, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("call", [SnykCall.PROVISION_TOKEN, SnykCall.SWITCH_TOKEN, SnykCall.CLONE_INTEGRATION], ids=str)
def test_non_idempotent_call_that_may_have_arrived_is_ambiguous(exc: httpx.TransportError, call: SnykCall) -> None:
    error = mapping.error_from_transport(exc, context=context(call))
    assert type(error) is errors.AmbiguousError
    assert "after the request was sent" in str(error)
    assert "Re-read" in str(error)


def test_unreadable_success_is_ambiguous_only_for_non_idempotent_calls() -> None:
    get = mapping.unreadable_success(context(SnykCall.LIST_INTEGRATIONS), status_code=200, what="x was missing")
    provision = mapping.unreadable_success(context(SnykCall.PROVISION_TOKEN), status_code=200, what="x was missing")
    assert type(get) is errors.UnexpectedResponseError
    assert type(provision) is errors.AmbiguousError
    assert "result is lost" in str(provision)
