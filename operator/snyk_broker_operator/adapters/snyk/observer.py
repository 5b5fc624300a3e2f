"""The client's observer port: what a :class:`~.client.SnykClient` reports about its own traffic (each HTTP request
and its answer, each retry, each wait on the key's request budget) to whoever counts it.

The operator's runner hands the client one that feeds its Prometheus metrics; this package knows nothing of them.
Only a call's name, a status code and durations are reported: never a key, a token or an identifier.
"""

from __future__ import annotations

from typing import Protocol


class SnykObserver(Protocol):
    def request_finished(self, *, call: str, status_code: int | None, seconds: float) -> None:
        """One HTTP request of ``call`` ended: answered with ``status_code``, or unanswered (``None``: connect
        error, reset, timeout), ``seconds`` after it was sent."""

    def retrying(self, *, call: str) -> None:
        """The client is about to wait and send ``call`` again after a failed attempt."""

    def waited_for_budget(self, *, seconds: float) -> None:
        """A request waited ``seconds`` on the key's :class:`~.limiter.RequestLimiter` before it could be sent."""


class NoObserver:
    """The default observer: reports to nobody (a client used outside the operator needs no metrics)."""

    def request_finished(self, *, call: str, status_code: int | None, seconds: float) -> None:
        pass

    def retrying(self, *, call: str) -> None:
        pass

    def waited_for_budget(self, *, seconds: float) -> None:
        pass


NO_OBSERVER: SnykObserver = NoObserver()
