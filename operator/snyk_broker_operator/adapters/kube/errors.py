"""The kube adapter's own errors: what the API server said, translated once, so no caller reads an HTTP status.

    KubeError                 any refusal or failure of a Kubernetes API call (status, reason, message, causes)
    ├── BadRequest            400: the request was refused before validation (an admission webhook's denial)
    ├── NotFound              404: the object (or its namespace) does not exist
    ├── Conflict              409: a stale resourceVersion, or the object already exists (reason AlreadyExists)
    ├── Invalid               422: the object was refused by validation; `causes` name each field and value
    ├── Forbidden             403: RBAC (or an admission webhook) refused the request
    ├── TooLarge              413: the request body is over the API server's limit
    └── Unavailable           5xx, 429, or no answer at all (connection refused, reset, timed out)

Only this package imports the Kubernetes client; `translate` is applied to every call it makes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

__all__ = [
    "BadRequest",
    "Cause",
    "Conflict",
    "Forbidden",
    "Invalid",
    "KubeError",
    "NotFound",
    "TooLarge",
    "Unavailable",
    "translate",
]


@dataclasses.dataclass(frozen=True)
class Cause:
    """One reason the API server gave for refusing a request (metav1.StatusCause)."""

    field: str
    message: str
    reason: str


class KubeError(Exception):
    """A Kubernetes API call that did not succeed. `str()` is the API server's own message."""

    def __init__(self, *, status: int, reason: str, message: str, causes: tuple[Cause, ...] = ()) -> None:
        # The API server's message already names the object and what was wrong with it; the status code adds
        # nothing a person can act on, so it is only shown when there is no message at all.
        super().__init__(message or f"{reason or 'error'} (HTTP {status})")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes


class BadRequest(KubeError):
    """400: refused as a whole, for example by an admission webhook that denied it."""


class NotFound(KubeError):
    """404."""


class Conflict(KubeError):
    """409: a stale resourceVersion, or the object already exists."""


class Invalid(KubeError):
    """422: refused by validation; `causes` say which field and value."""


class Forbidden(KubeError):
    """403."""


class TooLarge(KubeError):
    """413."""


class Unavailable(KubeError):
    """The API server could not answer (5xx, 429, or no connection); retrying later may succeed."""


# What a request that got no answer at all is called: the API server's own reason for a 503.
NO_ANSWER_REASON = "ServiceUnavailable"

_BY_STATUS: dict[int, type[KubeError]] = {
    400: BadRequest,
    404: NotFound,
    409: Conflict,
    422: Invalid,
    403: Forbidden,
    413: TooLarge,
}


def translate(error: Exception) -> KubeError:
    """The adapter's error for an exception the client raised (an ApiException, or a transport error)."""
    if isinstance(error, KubeError):
        return error
    if isinstance(error, ApiException):
        status = int(error.status or 0)
        body = _status_body(error.body)
        details = body.get("details") or {}
        causes = tuple(
            Cause(field=str(c.get("field", "")), message=str(c.get("message", "")), reason=str(c.get("reason", "")))
            for c in details.get("causes") or []
            if isinstance(c, dict)
        )
        kind = _BY_STATUS.get(status, Unavailable if status >= 500 or status in (0, 429) else KubeError)
        return kind(
            status=status,
            reason=str(body.get("reason") or error.reason or ""),
            message=str(body.get("message") or ""),
            causes=causes,
        )
    if isinstance(error, (TransportError, OSError)):
        return Unavailable(status=0, reason=NO_ANSWER_REASON, message=f"the API server did not answer: {error}")
    raise error


def _status_body(body: Any) -> dict[str, Any]:
    """The metav1.Status the API server sends with an error, when it sent one."""
    if not body:
        return {}
    try:
        loaded = json.loads(body)
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
