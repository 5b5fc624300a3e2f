"""Small API types shared by every kind: constrained strings, timestamps, label selectors, conditions, CEL rules.

The constraints here are written once and land twice: in the CRD schema (``pattern``, ``maxLength``, CEL rules,
through crdgen) and in pydantic validation, so the operator refuses the same objects the API server does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict

from snyk_broker_operator.models.base import ApiModel, ObservedModel
from snyk_broker_operator.models.enums import ConditionStatus, LabelSelectorOperator

__all__ = [
    "MAX_LABEL_SELECTOR_EXPRESSIONS",
    "CelRule",
    "Condition",
    "Fingerprint",
    "GoDuration",
    "KubeName",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "SecretKey",
    "Timestamp",
    "Uuid",
    "cel_validations",
    "fingerprint_of",
    "parse_go_duration",
]

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# Units h, m and s only, in that order (the subset of Go's time.ParseDuration syntax a rotation interval needs).
# The digit limits keep the largest value below Go's 2562047h, so CEL's duration() never overflows.
GO_DURATION_PATTERN = r"^([0-9]{1,6}h)?([0-9]{1,7}m)?([0-9]{1,8}s)?$"
LABEL_KEY_MAX_LENGTH = 317
LABEL_VALUE_MAX_LENGTH = 63
MAX_LABEL_SELECTOR_EXPRESSIONS = 16
MAX_LABEL_SELECTOR_VALUES = 64
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

# No minLength: the pattern fixes the length, and the API server reports only the first failing string check, so
# a minLength would hide the pattern (the more useful message). maxLength bounds CEL cost estimates.
Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN, max_length=36)]
"""A UUID in its canonical lowercase form, as Snyk returns org and integration ids."""

KubeName = Annotated[str, StringConstraints(pattern=DNS1123_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]
"""The name of a namespaced object such as a Secret (a DNS-1123 subdomain)."""

SecretKey = Annotated[str, StringConstraints(pattern=SECRET_KEY_PATTERN, min_length=1, max_length=253)]
"""A key in a Secret's data."""

GoDuration = Annotated[str, StringConstraints(pattern=GO_DURATION_PATTERN, min_length=2, max_length=24)]
"""A duration in Go syntax restricted to the units h, m and s, e.g. ``2160h`` or ``1h30m``."""

FINGERPRINT_PATTERN = r"^sha256:[0-9a-f]{12}$"
Fingerprint = Annotated[str, StringConstraints(pattern=FINGERPRINT_PATTERN)]
"""A short, non-reversible identifier of a token: ``sha256:`` and the first 12 hex digits of its SHA-256."""


def fingerprint_of(token: SecretStr) -> str:
    """The ``Fingerprint`` of a token; the only form of a token that may appear in status, logs or annotations."""
    digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()
    return f"sha256:{digest[:12]}"


_DURATION_PARTS = re.compile(r"([0-9]+)([hms])")
_SECONDS_PER_UNIT = {"h": 3600, "m": 60, "s": 1}


def parse_go_duration(text: str) -> timedelta:
    """The length of a duration matching ``GoDuration`` (``2160h``, ``1h30m``, ``45s``)."""
    if not re.fullmatch(GO_DURATION_PATTERN, text) or not text:
        raise ValueError(f"{text!r} is not a duration like 2160h, 1h30m or 45s")
    seconds = sum(int(amount) * _SECONDS_PER_UNIT[unit] for amount, unit in _DURATION_PARTS.findall(text))
    return timedelta(seconds=seconds)


def _to_utc_seconds(moment: datetime) -> datetime:
    # Kubernetes timestamps (metav1.Time) carry whole seconds; truncating on the way in makes a computed status
    # compare equal to the same status read back from the API server, so a converged resync writes nothing.
    return moment.astimezone(UTC).replace(microsecond=0)


def _format_rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc_seconds),
    PlainSerializer(_format_rfc3339, return_type=str, when_used="json"),
]
"""A point in time: timezone-aware, UTC, whole seconds; RFC 3339 (``2026-01-02T03:04:05Z``) on the wire."""


@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry; the message says what to fix, and the models raise the same text."""

    rule: str
    message: str

    def as_schema(self) -> JsonDict:
        """The rule as it appears in the CRD."""
        return {"rule": self.rule, "message": self.message}


def cel_validations(*rules: CelRule) -> JsonDict:
    """``json_schema_extra`` carrying CEL rules; crdgen copies it into the CRD as is."""
    return {"x-kubernetes-validations": [rule.as_schema() for rule in rules]}


LABEL_REQUIREMENT_VALUES = CelRule(
    rule=(
        "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
        " : (!has(self.values) || size(self.values) == 0)"
    ),
    message="values must be non-empty when operator is In or NotIn, and empty when it is Exists or DoesNotExist",
)


class LabelSelectorRequirement(ApiModel):
    """A label-selector requirement: a key, an operator, and values (metav1.LabelSelectorRequirement)."""

    model_config = ConfigDict(json_schema_extra=cel_validations(LABEL_REQUIREMENT_VALUES))

    key: str = Field(
        min_length=1, max_length=LABEL_KEY_MAX_LENGTH, description="The label key the requirement applies to."
    )
    operator: LabelSelectorOperator = Field(
        description="How the key relates to the values: In, NotIn, Exists or DoesNotExist."
    )
    values: tuple[Annotated[str, StringConstraints(max_length=LABEL_VALUE_MAX_LENGTH)], ...] | None = Field(
        default=None,
        max_length=MAX_LABEL_SELECTOR_VALUES,
        description="Label values; non-empty for In and NotIn, empty for Exists and DoesNotExist.",
    )

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        wants_values = self.operator in (LabelSelectorOperator.IN, LabelSelectorOperator.NOT_IN)
        if wants_values != bool(self.values):
            raise ValueError(LABEL_REQUIREMENT_VALUES.message)
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a workload with these labels satisfies the requirement."""
        values = self.values or ()
        if self.operator is LabelSelectorOperator.IN:
            return labels.get(self.key) in values
        if self.operator is LabelSelectorOperator.NOT_IN:
            return labels.get(self.key) not in values
        if self.operator is LabelSelectorOperator.EXISTS:
            return self.key in labels
        return self.key not in labels


class LabelSelector(ApiModel):
    """A label selector (metav1.LabelSelector): every matchLabels pair and every matchExpressions entry must hold.

    An empty selector matches every object.
    """

    match_labels: dict[str, str] | None = Field(
        default=None, description="Labels the object must carry, each with exactly this value."
    )
    match_expressions: tuple[LabelSelectorRequirement, ...] | None = Field(
        default=None,
        max_length=MAX_LABEL_SELECTOR_EXPRESSIONS,
        description="Requirements on the object's labels, all of which must hold.",
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels is selected."""
        if any(labels.get(key) != value for key, value in (self.match_labels or {}).items()):
            return False
        return all(requirement.matches(labels) for requirement in self.match_expressions or ())


class Condition(ObservedModel):
    """An observation of one aspect of the object's state (metav1.Condition)."""

    type: str = Field(
        pattern=CONDITION_TYPE_PATTERN,
        max_length=316,
        description="Type of the condition: Ready, Reconciling or Stalled.",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: str = Field(
        pattern=CONDITION_REASON_PATTERN,
        min_length=1,
        max_length=1024,
        description="A CamelCase word saying why the condition has this status, for machines to match on.",
    )
    message: str = Field(
        default="", max_length=32768, description="A human-readable explanation, saying what to do if anything."
    )
    last_transition_time: Timestamp = Field(description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the condition was computed from."
    )


class ObjectMeta(ObservedModel):
    """The part of an object's metadata the operator reads; the API server owns the schema of ``metadata``."""

    name: str = Field(description="Name of the object.")
    namespace: str | None = Field(default=None, description="Namespace of the object; absent for cluster scope.")
    uid: str | None = Field(default=None, description="Unique id the API server gave the object.")
    generation: int | None = Field(default=None, description="Sequence number of the desired state (spec).")
    resource_version: str | None = Field(default=None, description="Opaque version for optimistic concurrency.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the object.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the object.")
    creation_timestamp: Timestamp | None = Field(default=None, description="When the object was created.")
    deletion_timestamp: Timestamp | None = Field(default=None, description="When deletion was requested.")
