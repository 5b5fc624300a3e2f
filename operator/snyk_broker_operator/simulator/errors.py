"""The one exception the simulator's v1 logic raises; :mod:`.app` turns it into Snyk's v1 error body."""

from __future__ import annotations

from http import HTTPStatus


class V1Error(Exception):
    """A v1 API failure: an HTTP status and a message that names what went wrong (never a token or key)."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, int | str]:
        """Snyk's documented v1 error shape: ``{"code", "message", "error"}``."""
        return {"code": int(self.status), "message": self.message, "error": self.message}


NOT_AUTHORISED = "Not authorised"


def not_authorised() -> V1Error:
    """Snyk's documented 401 body for a missing or invalid key."""
    return V1Error(HTTPStatus.UNAUTHORIZED, NOT_AUTHORISED)
