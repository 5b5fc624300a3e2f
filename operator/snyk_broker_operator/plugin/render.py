"""Pure output helpers of the kubectl plugin: kubectl-style tables, human durations, JSON and YAML documents."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import yaml

NONE = "<none>"
OUTPUT_FORMATS = ("table", "json", "yaml")
COLUMN_GAP = "   "


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns three spaces apart, as `kubectl get` prints them; an empty cell shows <none>."""
    cells = [list(headers), *([cell or NONE for cell in row] for row in rows)]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    lines = [COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def indented(block: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in block.splitlines())


def document(data: Mapping[str, Any] | Sequence[Any], output: str) -> str:
    """`data` as a JSON (indented, keys in the order given) or YAML document."""
    if output == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120).rstrip("\n")
    raise ValueError(f"not a document format: {output!r}")


def human_duration(length: timedelta) -> str:
    """A length as `kubectl get` shows ages (k8s.io/apimachinery duration.HumanDuration): 45s, 5m3s, 3h, 89d, 2y."""
    seconds = int(length.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m" if seconds % 60 == 0 else f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    return _hours_and_more(seconds // 3600, minutes % 60)


def _hours_and_more(hours: int, minutes: int) -> str:
    if hours < 8:
        return f"{hours}h" if minutes == 0 else f"{hours}h{minutes}m"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d" if hours % 24 == 0 else f"{days}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    if hours < 24 * 365 * 8 and rest:
        return f"{years}y{rest}d"
    return f"{years}y"


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago `moment` was, or empty when unknown."""
    return "" if moment is None else human_duration(now - moment)


def timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with whole seconds (as the API server writes them), or None."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
