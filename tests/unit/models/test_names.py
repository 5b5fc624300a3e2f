"""`models.names`: derived names and label values stay valid at the longest names Kubernetes allows."""

from __future__ import annotations

import re

import pytest

from snyk_broker_operator.models.names import LABEL_VALUE_MAX, OBJECT_NAME_MAX, derived_name, label_value

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("github", "github", id="a short name is its own label value"),
        pytest.param("x" * 63, "x" * 63, id="a name of exactly 63 characters is kept whole"),
    ],
)
def test_a_name_that_fits_a_label_value_is_left_alone(name: str, expected: str) -> None:
    assert label_value(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 64, id="one character too long"),
        pytest.param(LONGEST, id="the longest object name"),
        pytest.param("a" * 54 + ".-" + "b" * 40, id="a cut that would end in a dot or a dash"),
    ],
)
def test_a_long_name_becomes_a_valid_label_value_of_63_characters_at_most(name: str) -> None:
    value = label_value(name)
    assert len(value) <= LABEL_VALUE_MAX and LABEL_VALUE.fullmatch(value), value
    assert value != label_value(name + "z"), "names that share a prefix keep distinct values"


@pytest.mark.parametrize(
    ("base", "suffix", "limit"),
    [
        pytest.param(LONGEST, "-snykbroker-custody", OBJECT_NAME_MAX, id="a suffix on the longest object name"),
        pytest.param(LONGEST, ".0123456789abcdef", OBJECT_NAME_MAX, id="an event name on the longest object name"),
        pytest.param("w" * 240, "-snykbroker-bridge", 242, id="a bridge of a long Deployment"),
    ],
)
def test_a_derived_name_that_would_not_fit_is_shortened_and_stays_a_dns_name(
    base: str, suffix: str, limit: int
) -> None:
    name = derived_name(base, suffix, limit=limit)
    assert len(name) <= limit and name.endswith(suffix) and DNS_SUBDOMAIN.fullmatch(name), name


def test_a_derived_name_that_fits_is_exactly_the_base_and_the_suffix() -> None:
    assert derived_name("github", "-snykbroker-custody") == "github-snykbroker-custody"
    assert derived_name("x" * 234, "-snykbroker-custody") == "x" * 234 + "-snykbroker-custody"  # 253 exactly
