"""Timestamps in annotations: written as RFC 3339 UTC whole seconds, read back as aware datetimes or as never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from snyk_broker_operator.reconcile import timestamps


def test_a_time_is_written_as_utc_whole_seconds() -> None:
    assert timestamps.format_utc(datetime(2026, 11, 29, 12, 0, 5, 999_000, tzinfo=UTC)) == "2026-11-29T12:00:05Z"


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-29T12:00:05Z", datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)),
        ("2026-11-29T13:00:05+01:00", datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
        ("2026-13-40T99:00:00Z", None),
    ],
    ids=[
        "a time the operator wrote reads back as the same instant in UTC",
        "a time with an offset reads back as the same instant",
        "an absent annotation is never",
        "an empty annotation is never",
        "text that is no time is never",
        "a date that does not exist is never",
    ],
)
def test_parse(text: str | None, moment: datetime | None) -> None:
    parsed = timestamps.parse(text)
    assert parsed == moment
    if parsed is not None:
        assert parsed.utcoffset() is not None


def test_what_is_written_reads_back_as_the_same_instant() -> None:
    moment = datetime(2026, 11, 29, 7, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert timestamps.parse(timestamps.format_utc(moment.astimezone(UTC))) == moment
