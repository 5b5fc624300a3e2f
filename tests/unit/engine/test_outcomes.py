"""`outcomes`: the one mapping from an error to how a pass ends (a Stall the user must act on, or a Failure to
retry), and from an error to how a connection check ends; an error it does not know is a bug (None)."""

from __future__ import annotations

import pydantic
import pytest

from snyk_broker_operator.adapters import snyk as snyk_api
from snyk_broker_operator.adapters.kube.errors import (
    BadRequest,
    Cause,
    Conflict,
    Forbidden,
    Invalid,
    KubeError,
    TooLarge,
    Unavailable,
)
from snyk_broker_operator.adapters.snyk import CallContext, SnykCall
from snyk_broker_operator.engine import outcomes
from snyk_broker_operator.engine.outcomes import ConnectionUnusable, StepFailed, StepStalled
from snyk_broker_operator.models import ShareTarget
from snyk_broker_operator.models.enums import ConditionReason as R
from snyk_broker_operator.reconcile import Failure, Outcome, Stall
from support.fakes import kube_error

CONTEXT = CallContext(SnykCall.PROVISION_TOKEN, org_id="0a000000-0000-4000-8000-00000000000a")
NOT_FOUND = snyk_api.NotFoundError(CONTEXT, subject=snyk_api.NotFoundSubject.ORG, status_code=404)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(snyk_api.AuthenticationError(CONTEXT, status_code=401), R.AUTHENTICATION_FAILED, id="401"),
        pytest.param(
            snyk_api.PermissionDeniedError(CONTEXT, org_id="o", status_code=403), R.AUTHENTICATION_FAILED, id="403"
        ),
        pytest.param(NOT_FOUND, R.INTEGRATION_NOT_FOUND, id="a missing org or integration"),
        pytest.param(snyk_api.BadRequestError(CONTEXT, status_code=400), R.INVALID_SPEC, id="a refused request"),
        pytest.param(
            snyk_api.ProvisionalTokenOutstandingError(CONTEXT, status_code=409),
            R.PROVISIONAL_TOKEN_OUTSTANDING,
            id="another provisional token outstanding",
        ),
        pytest.param(StepStalled(Stall(R.SECRET_CONFLICT, "theirs")), R.SECRET_CONFLICT, id="a stalled step"),
        pytest.param(
            ConnectionUnusable(R.CONNECTION_NOT_FOUND, "no such connection"),
            R.CONNECTION_NOT_FOUND,
            id="an unusable connection",
        ),
    ],
)
def test_errors_only_a_human_can_fix_stall(error: Exception, reason: R) -> None:
    outcome = outcomes.from_error(error)

    assert outcome is not None and outcome.stall is not None and outcome.failure is None
    assert outcome.stall.reason == reason


def test_an_outstanding_provisional_token_stall_says_how_to_resolve_it() -> None:
    outcome = outcomes.from_error(snyk_api.ProvisionalTokenOutstandingError(CONTEXT, status_code=409))

    assert outcome is not None and outcome.stall is not None
    assert outcome.stall.message == outcomes.OUTSTANDING_MESSAGE


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(snyk_api.RateLimitedError(CONTEXT, retry_after=9.0), R.RATE_LIMITED, id="rate limited"),
        pytest.param(snyk_api.AmbiguousError(CONTEXT), R.AMBIGUOUS_RESULT, id="an outcome Snyk left unknown"),
        pytest.param(snyk_api.UnavailableError(CONTEXT, status_code=503), R.SNYK_UNAVAILABLE, id="Snyk unavailable"),
        pytest.param(snyk_api.UnexpectedResponseError(CONTEXT), R.SNYK_UNAVAILABLE, id="an unreadable answer"),
        pytest.param(kube_error(Unavailable), R.KUBERNETES_ERROR, id="an API server that cannot answer"),
        pytest.param(StepFailed(Failure(R.KUBERNETES_ERROR, "x")), R.KUBERNETES_ERROR, id="a failed step"),
    ],
)
def test_errors_that_may_pass_are_failures_to_retry(error: Exception, reason: R) -> None:
    outcome = outcomes.from_error(error)

    assert outcome is not None and outcome.failure is not None and outcome.stall is None
    assert outcome.failure.reason == reason


def test_a_rate_limit_keeps_the_delay_snyk_asked_for() -> None:
    outcome = outcomes.from_error(snyk_api.RateLimitedError(CONTEXT, retry_after=9.0))

    assert outcome is not None and outcome.failure is not None and outcome.failure.retry_after == 9.0


def test_a_kubernetes_write_that_may_go_through_later_is_retried_and_names_what_was_being_done() -> None:
    failed = outcomes.kube_failure(kube_error(Conflict, "the object has been modified"), "writing Secret 'broker'")

    assert isinstance(failed, StepFailed)
    assert failed.failure == Failure(R.KUBERNETES_ERROR, "writing Secret 'broker' failed: the object has been modified")
    assert str(failed) == failed.failure.message


@pytest.mark.parametrize(
    ("kind", "reason", "remedy"),
    [
        pytest.param(Invalid, R.WRITE_INVALID, "change the BrokerToken field", id="invalid (422)"),
        pytest.param(Forbidden, R.WRITE_FORBIDDEN, "grant the operator's ServiceAccount", id="forbidden (403)"),
        pytest.param(TooLarge, R.WRITE_TOO_LARGE, "size limit", id="too large (413)"),
        pytest.param(BadRequest, R.WRITE_REFUSED, "admission webhook", id="a webhook's denial (400)"),
    ],
)
def test_a_refusal_the_same_write_would_meet_again_stalls_and_says_what_to_change(
    kind: type[KubeError], reason: R, remedy: str
) -> None:
    error = kind(status=0, reason=kind.__name__, message='Secret "b" is refused by the cluster')

    stalled = outcomes.kube_failure(error, "writing Secret 'b'")

    assert isinstance(stalled, StepStalled) and stalled.stall.reason == reason
    message = stalled.stall.message
    assert message.startswith("writing Secret 'b' was refused by the API server: Secret \"b\" is refused")
    assert f"To fix it: {remedy}" in message or remedy in message.split("To fix it: ", 1)[1]


def test_a_refusal_names_each_field_and_value_and_never_repeats_one_the_message_already_gives() -> None:
    error = Invalid(
        status=422,
        reason="Invalid",
        message='Secret "b" is invalid: metadata.labels: Invalid value: "x": must be no more than 63 characters',
        causes=(
            Cause(field="metadata.labels", message='Invalid value: "x": must be no more than 63 characters', reason=""),
            Cause(field="metadata.name", message='Invalid value: "B": must be lowercase', reason="FieldValueInvalid"),
        ),
    )

    stalled = outcomes.kube_failure(error, "writing Secret 'b'")

    assert isinstance(stalled, StepStalled)
    assert stalled.stall.message.count("must be no more than 63 characters") == 1
    assert 'metadata.name: Invalid value: "B": must be lowercase' in stalled.stall.message


@pytest.mark.parametrize("error", [ValueError("a bug"), KeyError("x"), AssertionError()], ids=repr)
def test_an_error_the_mapping_does_not_know_is_a_bug(error: Exception) -> None:
    assert outcomes.from_error(error) is None
    assert outcomes.connection_check_outcome(error) is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            ConnectionUnusable(R.CONNECTION_NOT_READY, "no key"),
            Outcome(stall=Stall(R.CONNECTION_NOT_READY, "no key")),
            id="an unusable connection stalls",
        ),
        pytest.param(
            snyk_api.AuthenticationError(CONTEXT, status_code=401),
            Outcome(stall=Stall(R.AUTHENTICATION_FAILED, str(snyk_api.AuthenticationError(CONTEXT, status_code=401)))),
            id="a refused key stalls",
        ),
        pytest.param(
            snyk_api.RateLimitedError(CONTEXT, retry_after=4.0),
            Outcome(
                failure=Failure(
                    R.RATE_LIMITED, str(snyk_api.RateLimitedError(CONTEXT, retry_after=4.0)), retry_after=4.0
                )
            ),
            id="rate limiting is retried",
        ),
        pytest.param(
            snyk_api.UnavailableError(CONTEXT),
            Outcome(failure=Failure(R.SNYK_UNAVAILABLE, str(snyk_api.UnavailableError(CONTEXT)))),
            id="Snyk unavailable is retried",
        ),
        pytest.param(
            kube_error(Unavailable, "down"),
            Outcome(failure=Failure(R.KUBERNETES_ERROR, "a Kubernetes API call failed: down")),
            id="the API server unavailable is retried",
        ),
    ],
)
def test_a_connection_check_that_raised_ends_as_the_error_says(error: Exception, expected: Outcome) -> None:
    assert outcomes.connection_check_outcome(error) == expected


def test_validation_problems_name_each_field_and_never_echo_a_value() -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        ShareTarget.model_validate({"orgId": "secret-looking-value", "extra": 1})

    problems = outcomes.validation_problems(raised.value)

    assert problems.startswith("orgId: ") and "; extra: " in problems
    assert "secret-looking-value" not in problems
