"""The errors a :class:`~.client.SnykClient` call can raise, and the human-readable messages they carry.

::

    SnykError                              every failure of a Snyk call
    ├── AuthenticationError                401: the API key is wrong, revoked or expired
    │   └── PermissionDeniedError          403: the key works but may not act on this org (.org_id)
    ├── NotFoundError                      404: the org, integration or integration type (.subject) is absent
    ├── ProvisionalTokenOutstandingError   409 on provision: the Group already has a provisional token
    ├── NothingToSwitchError               400 on switch: there is no provisional token to switch to
    ├── IntegrationConflictError           409 on clone: the destination org already has that type
    ├── BadRequestError                    any other 4xx
    ├── RateLimitedError                   429, retries exhausted or not worth waiting for (.retry_after)
    ├── UnavailableError                   5xx or a connection failure on a call that is safe to repeat,
    │                                      or that provably never reached Snyk
    ├── UnexpectedResponseError            a 2xx whose body this client cannot read (idempotent calls)
    └── AmbiguousError                     a provision/switch/clone that may or may not have taken effect

Every message names the call, the identifiers it was about, what Snyk said (only the ``message``/``error``
field of a v1 error body, with any UUID that is not one of those identifiers masked) and what a human can do.
Messages end up in Kubernetes conditions, so they never contain a key, a token or a response body.
Built by :mod:`.mapping`; the call names come from :mod:`.calls`.
"""

from __future__ import annotations

import enum
from typing import ClassVar

from snyk_broker_operator.adapters.snyk.calls import CallContext


class SnykError(Exception):
    """A Snyk call failed. ``str(error)`` is a complete sentence fit for a condition message."""

    summary: ClassVar[str] = "failed"
    hint: ClassVar[str] = ""

    def __init__(
        self,
        context: CallContext,
        *,
        status_code: int | None = None,
        snyk_message: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.context = context
        self.status_code = status_code
        self.snyk_message = snyk_message
        self.detail = detail
        super().__init__(self._compose())

    @property
    def call(self) -> str:
        return str(self.context.call)

    def _headline(self) -> str:
        return self.summary

    def _compose(self) -> str:
        text = f"Snyk {self.context.describe()}: {self._headline()}"
        if self.status_code is not None:
            text += f" (HTTP {self.status_code})"
        if self.detail:
            text += f"; {self.detail}"
        text += "."
        if self.snyk_message:
            text += f' Snyk said: "{self.snyk_message}".'
        if self.hint:
            text += f" {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AuthenticationError(SnykError):
    summary = "the API key was refused"
    hint = "Check the API key in the connection's Secret: it may be wrong, revoked or expired."


class PermissionDeniedError(AuthenticationError):
    hint = (
        "Give the key's user or service account admin rights on the org "
        "(View Organization, View Integrations, Edit Integrations)."
    )

    def __init__(
        self,
        context: CallContext,
        *,
        org_id: str | None,
        status_code: int | None = None,
        snyk_message: str | None = None,
    ) -> None:
        self.org_id = org_id
        """The org the key may not act on (the destination org of a clone when Snyk names it)."""
        super().__init__(context, status_code=status_code, snyk_message=snyk_message)

    def _headline(self) -> str:
        return f"the API key has no access to org {self.org_id}" if self.org_id else "access denied"


class NotFoundSubject(enum.StrEnum):
    """What a 404 says is missing."""

    ORG = "org"
    INTEGRATION = "integration"
    INTEGRATION_TYPE = "integration type"
    DESTINATION_ORG = "destination org"


class NotFoundError(SnykError):
    hint = "Check the identifiers in the resource's spec, and that the API key can see them."

    def __init__(
        self,
        context: CallContext,
        *,
        subject: NotFoundSubject,
        status_code: int | None = None,
        snyk_message: str | None = None,
    ) -> None:
        self.subject = subject
        super().__init__(context, status_code=status_code, snyk_message=snyk_message)

    def _headline(self) -> str:
        subjects = {
            NotFoundSubject.ORG: f"org {self.context.org_id} was not found",
            NotFoundSubject.INTEGRATION: f"integration {self.context.integration_id} was not found in the org",
            NotFoundSubject.INTEGRATION_TYPE: (f"the org has no integration of type {self.context.integration_type!r}"),
            NotFoundSubject.DESTINATION_ORG: f"destination org {self.context.destination_org_id} was not found",
        }
        return subjects[self.subject]


class ProvisionalTokenOutstandingError(SnykError):
    summary = "a provisional token is already outstanding for this integration or another one in its Group"
    hint = (
        "Snyk allows one provisional token per Group at a time: finish (switch) the rotation that holds it, "
        "or wait for it, before provisioning another."
    )


class NothingToSwitchError(SnykError):
    summary = "there is no provisional token to switch to"
    hint = (
        "Provision a token first. If a rotation was under way, someone may already have switched: "
        "re-read the integration before acting again."
    )


class IntegrationConflictError(SnykError):
    summary = "the destination org already has an integration of this type"
    hint = "Remove that integration from the destination org, or stop sharing with it."


class BadRequestError(SnykError):
    summary = "Snyk refused the request"


class RateLimitedError(SnykError):
    summary = "Snyk rate-limited the API key"

    def __init__(
        self,
        context: CallContext,
        *,
        retry_after: float | None,
        status_code: int | None = 429,
        snyk_message: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        detail = None if retry_after is None else f"retry after {retry_after:g} s"
        super().__init__(context, status_code=status_code, snyk_message=snyk_message, detail=detail)


class UnavailableError(SnykError):
    summary = "Snyk could not be reached or failed to answer"
    hint = "This is usually temporary; the call will be retried later."


class UnexpectedResponseError(SnykError):
    summary = "Snyk answered, but not in the shape this client understands"
    hint = "The v1 API may have changed; report this to the operator's maintainers."


class AmbiguousError(SnykError):
    summary = "the outcome is unknown: the request may or may not have taken effect in Snyk"
    hint = "It was not repeated, because repeating it is not safe. Re-read the integration's state before acting again."
