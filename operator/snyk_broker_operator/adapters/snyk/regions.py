"""Snyk regions and the v1 API base URL of each (from Snyk's "Regional hosting and data residency" page)."""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping


class SnykRegion(enum.StrEnum):
    US_01 = "SNYK-US-01"
    US_02 = "SNYK-US-02"
    EU_01 = "SNYK-EU-01"
    AU_01 = "SNYK-AU-01"


DEFAULT_REGION = SnykRegion.US_01

V1_BASE_URLS: Mapping[SnykRegion, str] = types.MappingProxyType(
    {
        SnykRegion.US_01: "https://api.snyk.io/v1",
        SnykRegion.US_02: "https://api.us.snyk.io/v1",
        SnykRegion.EU_01: "https://api.eu.snyk.io/v1",
        SnykRegion.AU_01: "https://api.au.snyk.io/v1",
    }
)


def v1_base_url(*, region: SnykRegion | str | None = None, api_url: str | None = None) -> str:
    """The v1 base URL: an explicit ``api_url`` wins, else the region's URL, else SNYK-US-01's.

    Raises :class:`ValueError` for an unknown region, or when both are given (a connection names one or the
    other, so both means a mistake upstream).
    """
    if api_url is not None and region is not None:
        raise ValueError("give either a region or an explicit API URL, not both")
    if api_url is not None:
        return api_url.rstrip("/")
    return V1_BASE_URLS[SnykRegion(region) if region is not None else DEFAULT_REGION]
