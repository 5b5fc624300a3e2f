"""Timestamps as the operator writes them into annotations: RFC 3339, UTC, whole seconds."""

from __future__ import annotations

from datetime import datetime


def format_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str | None) -> datetime | None:
    """The time in an annotation, or None when it is absent or unreadable (treated as never)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
