"""The one place where errors become outcomes: a step raises `StepStalled` or `StepFailed`, and a Snyk, Kubernetes
or connection error is mapped here to a Stall (the user must act) or a Failure (retried with backoff).

Nothing else in the engine reads an error's type to choose a reason.
"""

from __future__ import annotations

import datetime

import pydantic

from snyk_broker_operator.adapters import snyk as snyk_api
from snyk_broker_operator.adapters.kube.errors import BadRequest, Forbidden, Invalid, KubeError, TooLarge
from snyk_broker_operator.models.enums import ConditionReason
from snyk_broker_operator.reconcile import Failure, Outcome, Stall

OUTSTANDING_MESSAGE = (
    "Snyk refuses to provision a new broker token because another provisional token is outstanding in this "
    "integration's Snyk Group (only one may exist at a time). If another tool or person provisioned it, let them "
    "finish (switch) first; if an earlier request of this operator timed out, its token cannot be read back through "
    "the API: switch or clear it in Snyk (or ask Snyk support). The rotation resumes by itself once Snyk accepts"
)


def provision_cut_off(started_at: datetime.datetime, rotation_secret: str) -> StepStalled:
    """A provision call of ours got no answer (the operator stopped, or the call timed out), and Snyk now reports a
    provisional token outstanding: most likely the one that call issued, which Snyk's API cannot read back."""
    message = (
        f"This operator's provision-token call of {started_at:%Y-%m-%dT%H:%M:%SZ} got no answer (the operator "
        "stopped during the call, or it timed out), and Snyk now refuses a new one because a provisional token is "
        "outstanding in this integration's Snyk Group: most likely the one that call issued, which Snyk's API "
        "cannot read back. The consumers keep the current token, which Snyk still accepts. To go on, have the "
        "outstanding provisional token cleared in Snyk (Snyk support can; do not switch to it, since no broker "
        "client holds it); the rotation resumes by itself once Snyk accepts a new provision. Rotation record: "
        f"Secret {rotation_secret!r}"
    )
    return StepStalled(Stall(ConditionReason.PROVISIONAL_TOKEN_OUTSTANDING, message))


class StepFailed(Exception):
    """A step failed for a reason that may pass: retry with backoff."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class StepStalled(Exception):
    """A step cannot succeed until the user changes something."""

    def __init__(self, stall: Stall) -> None:
        super().__init__(stall.message)
        self.stall = stall


class ConnectionUnusable(Exception):
    """The connection cannot be used as it is; `message` says what the user must fix."""

    def __init__(self, reason: ConditionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# Refusals the API server would repeat for the same write: the user must change something, so they stall (GitOps
# tools fail fast) instead of being retried. Each says who refused and what can be changed.
_REFUSALS: dict[type[KubeError], tuple[ConditionReason, str]] = {
    Invalid: (
        ConditionReason.WRITE_INVALID,
        "change the BrokerToken field the refused value comes from, or the admission policy that refused it",
    ),
    Forbidden: (
        ConditionReason.WRITE_FORBIDDEN,
        "grant the operator's ServiceAccount this permission (deploy/base/rbac.yaml, or the chart's rbac values), "
        "or change the admission policy that refused it",
    ),
    TooLarge: (
        ConditionReason.WRITE_TOO_LARGE,
        "the object is over the API server's size limit: make what the BrokerToken puts in it smaller",
    ),
    BadRequest: (
        ConditionReason.WRITE_REFUSED,
        "change the BrokerToken, or the admission webhook or policy that refused the request",
    ),
}


def kube_failure(error: KubeError, doing: str) -> StepFailed | StepStalled:
    """A Kubernetes write that did not go through: a refusal that the same write would meet again is a stall, whose
    message names the object, each field and value the API server refused, and what to change; anything else
    (a conflict, an API server that did not answer) is a failure to retry. The message names what was being done."""
    refusal = next((found for kind, found in _REFUSALS.items() if isinstance(error, kind)), None)
    if refusal is None:
        return StepFailed(Failure(ConditionReason.KUBERNETES_ERROR, f"{doing} failed: {error}"))
    reason, remedy = refusal
    # The API server's message usually lists its causes already; add only those it does not.
    said = str(error)
    extra = [f"{c.field}: {c.message}" if c.field else c.message for c in error.causes if c.message not in said]
    details = "; ".join([said, *extra])
    return StepStalled(Stall(reason, f"{doing} was refused by the API server: {details}. To fix it: {remedy}"))


def from_error(error: Exception) -> Outcome | None:
    """The outcome of a pass that ended with `error`, or None when it is not one this module knows (a bug)."""
    match error:
        case StepFailed():
            return Outcome(failure=error.failure)
        case StepStalled():
            return Outcome(stall=error.stall)
        case ConnectionUnusable():
            return Outcome(stall=Stall(error.reason, error.message))
        case snyk_api.SnykError():
            return _from_snyk_error(error)
        case KubeError():
            return Outcome(failure=Failure(ConditionReason.KUBERNETES_ERROR, f"a Kubernetes API call failed: {error}"))
    return None


def _from_snyk_error(error: snyk_api.SnykError) -> Outcome:
    message = str(error)
    match error:
        case snyk_api.ProvisionalTokenOutstandingError():
            return Outcome(stall=Stall(ConditionReason.PROVISIONAL_TOKEN_OUTSTANDING, OUTSTANDING_MESSAGE))
        case snyk_api.AuthenticationError():
            return Outcome(stall=Stall(ConditionReason.AUTHENTICATION_FAILED, message))
        case snyk_api.NotFoundError():
            return Outcome(stall=Stall(ConditionReason.INTEGRATION_NOT_FOUND, message))
        case snyk_api.BadRequestError():
            return Outcome(stall=Stall(ConditionReason.INVALID_SPEC, message))
        case snyk_api.RateLimitedError():
            return Outcome(failure=Failure(ConditionReason.RATE_LIMITED, message, retry_after=error.retry_after))
        case snyk_api.AmbiguousError():
            return Outcome(failure=Failure(ConditionReason.AMBIGUOUS_RESULT, message))
    return Outcome(failure=Failure(ConditionReason.SNYK_UNAVAILABLE, message))


def connection_check_outcome(error: Exception) -> Outcome | None:
    """How a connection's credential check ended when it raised `error`; None when `error` is not expected.

    A refused key, or a key Secret that is missing or empty, needs a human (Stalled, so GitOps tools fail fast);
    Snyk or the API server being unreachable is retried.
    """
    match error:
        case ConnectionUnusable():
            return Outcome(stall=Stall(error.reason, error.message))
        case snyk_api.AuthenticationError():
            return Outcome(stall=Stall(ConditionReason.AUTHENTICATION_FAILED, str(error)))
        case snyk_api.RateLimitedError():
            return Outcome(failure=Failure(ConditionReason.RATE_LIMITED, str(error), retry_after=error.retry_after))
        case snyk_api.SnykError():
            return Outcome(failure=Failure(ConditionReason.SNYK_UNAVAILABLE, str(error)))
        case KubeError():
            return Outcome(failure=Failure(ConditionReason.KUBERNETES_ERROR, f"a Kubernetes API call failed: {error}"))
    return None


def validation_problems(error: pydantic.ValidationError) -> str:
    """What the models refused in an object, field by field, without echoing any value."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors(include_input=False)
    )
