"""A SnykConnection's API endpoint: an explicit apiUrl, or else its region's; a null apiUrl is no apiUrl."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from snyk_broker_operator.models import SnykConnectionSpec

SECRET = {"apiTokenSecretRef": {"name": "snyk"}}


@pytest.mark.parametrize(
    ("spec", "api_url"),
    [
        ({"region": "SNYK-EU-01", "apiUrl": None}, "https://api.eu.snyk.io"),
        ({"apiUrl": "https://proxy.example.com/snyk/"}, "https://proxy.example.com/snyk"),
        ({"region": None, "apiUrl": "http://[::1]:9000"}, "http://[::1]:9000"),
    ],
    ids=[
        "a null apiUrl beside a region is no apiUrl, so the region's URL applies",
        "an explicit apiUrl is used without its trailing slash",
        "a null region beside a loopback apiUrl uses the apiUrl",
    ],
)
def test_the_effective_api_url(spec: dict[str, Any], api_url: str) -> None:
    assert SnykConnectionSpec.model_validate({**spec, **SECRET}).effective_api_url == api_url


def test_a_null_api_url_without_a_region_is_refused_as_no_endpoint() -> None:
    with pytest.raises(ValidationError, match=r"exactly one of spec\.region or spec\.apiUrl must be set"):
        SnykConnectionSpec.model_validate({"apiUrl": None, **SECRET})
