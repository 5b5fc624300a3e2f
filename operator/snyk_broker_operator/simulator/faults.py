"""Fault injection: rules posted to ``/_sim/faults`` and the per-request decision they produce.

A :class:`FaultBook` holds rules in the order they were added. For every v1 request, :meth:`FaultBook.plan`
looks at the rules matching the endpoint and returns one :class:`FaultPlan`: added latency, then at most one
outcome, by precedence ``hang`` > ``rateLimitBurst`` (429) > ``errorRate`` (``errorStatus``) >
``timeoutAfterEffect``. :mod:`.app` applies the plan around the real endpoint logic. Random draws come from
an injected generator, so ``errorRate`` is reproducible under ``--random-seed``.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pydantic
from pydantic.alias_generators import to_camel

from snyk_broker_operator.simulator.names import ANY_ENDPOINT, EndpointName

DEFAULT_ERROR_STATUS = 503


class Outcome(enum.StrEnum):
    NONE = "none"
    HANG = "hang"
    RATE_LIMITED = "rate_limited"
    ERROR = "error"
    TIMEOUT_AFTER_EFFECT = "timeout_after_effect"


class FaultSpec(pydantic.BaseModel):
    """The body of ``POST /_sim/faults``; every field but ``endpoint`` is optional."""

    model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    endpoint: str = ANY_ENDPOINT
    latency_seconds: float = pydantic.Field(default=0.0, ge=0)
    error_rate: float = pydantic.Field(default=0.0, ge=0, le=1)
    error_status: int = pydantic.Field(default=DEFAULT_ERROR_STATUS, ge=400, le=599)
    rate_limit_burst: int = pydantic.Field(default=0, ge=0)
    retry_after_seconds: int | None = pydantic.Field(default=None, ge=0)
    hang: bool = False
    timeout_after_effect: int = pydantic.Field(default=0, ge=0)
    count: int | None = pydantic.Field(default=None, ge=1)

    @pydantic.field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, value: str) -> str:
        names = [str(name) for name in EndpointName if name is not EndpointName.UNKNOWN]
        if value != ANY_ENDPOINT and value not in names:
            raise ValueError(f"unknown endpoint {value!r}; use '*' or one of {', '.join(names)}")
        return value

    @pydantic.model_validator(mode="after")
    def _does_something(self) -> FaultSpec:
        if not (
            self.latency_seconds
            or self.error_rate
            or self.rate_limit_burst
            or self.hang
            or self.timeout_after_effect
            or self.retry_after_seconds is not None
        ):
            raise ValueError("a fault rule needs at least one effect")
        return self


@dataclasses.dataclass
class FaultRule:
    id: int
    spec: FaultSpec
    burst_left: int
    timeouts_left: int
    calls_left: int | None

    def matches(self, endpoint: EndpointName) -> bool:
        return self.spec.endpoint in (ANY_ENDPOINT, str(endpoint))

    @property
    def spent(self) -> bool:
        if self.calls_left == 0:
            return True
        has_counted_effects = self.spec.rate_limit_burst > 0 or self.spec.timeout_after_effect > 0
        has_standing_effects = self.spec.latency_seconds > 0 or self.spec.error_rate > 0 or self.spec.hang
        counted_effects_used_up = self.burst_left == 0 and self.timeouts_left == 0
        return has_counted_effects and counted_effects_used_up and not has_standing_effects

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(by_alias=True),
            "rateLimitBurstLeft": self.burst_left,
            "timeoutAfterEffectLeft": self.timeouts_left,
            "countLeft": self.calls_left,
        }


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    latency_seconds: float = 0.0
    outcome: Outcome = Outcome.NONE
    error_status: int | None = None
    # Retry-After for a 429 or 503 this request gets (from a fault or the real rate limit); None: no header.
    retry_after_seconds: int | None = None


class FaultBook:
    def __init__(self, *, rng: random.Random) -> None:
        self._rng = rng
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(
            id=next(self._ids),
            spec=spec,
            burst_left=spec.rate_limit_burst,
            timeouts_left=spec.timeout_after_effect,
            calls_left=spec.count,
        )
        self._rules.append(rule)
        return rule

    def clear(self) -> int:
        cleared = len(self._rules)
        self._rules.clear()
        return cleared

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def plan(self, endpoint: EndpointName) -> FaultPlan:
        """Decide the faults for one request to ``endpoint``, consuming counted rules."""
        rules = [rule for rule in self._rules if rule.matches(endpoint)]
        if not rules:
            return FaultPlan()
        # Draw for every errorRate rule on every call, so the sequence of draws depends only on the calls made.
        erroring = [rule for rule in rules if rule.spec.error_rate and self._rng.random() < rule.spec.error_rate]
        plan = FaultPlan(
            latency_seconds=sum(rule.spec.latency_seconds for rule in rules),
            retry_after_seconds=next(_retry_afters(rules), None),
        )
        plan = self._decide_outcome(rules, erroring, plan)
        for rule in rules:
            if rule.calls_left is not None:
                rule.calls_left -= 1
        self._rules = [rule for rule in self._rules if not rule.spent]
        return plan

    @staticmethod
    def _decide_outcome(rules: list[FaultRule], erroring: list[FaultRule], plan: FaultPlan) -> FaultPlan:
        if any(rule.spec.hang for rule in rules):
            return dataclasses.replace(plan, outcome=Outcome.HANG)
        bursting = next((rule for rule in rules if rule.burst_left > 0), None)
        if bursting is not None:
            bursting.burst_left -= 1
            return dataclasses.replace(
                plan, outcome=Outcome.RATE_LIMITED, retry_after_seconds=bursting.spec.retry_after_seconds
            )
        if erroring:
            first = erroring[0]
            return dataclasses.replace(
                plan,
                outcome=Outcome.ERROR,
                error_status=first.spec.error_status,
                retry_after_seconds=first.spec.retry_after_seconds,
            )
        timing_out = next((rule for rule in rules if rule.timeouts_left > 0), None)
        if timing_out is not None:
            timing_out.timeouts_left -= 1
            return dataclasses.replace(plan, outcome=Outcome.TIMEOUT_AFTER_EFFECT)
        return plan


def _retry_afters(rules: list[FaultRule]) -> Iterator[int]:
    return (rule.spec.retry_after_seconds for rule in rules if rule.spec.retry_after_seconds is not None)
