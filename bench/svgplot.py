"""Line charts as standalone SVG text for the benchmarks' results: layout, nice ticks, number format and palette.

Standard library only, so that a benchmark can draw its figures without plotting packages. `line_chart` returns the
whole SVG document (deterministic: the same input gives the same bytes) and `write_chart` writes it to a file:

    write_chart(Path("bench/results/converge.svg"), [Series("converge", [(10, 1.2), (100, 3.4), (1000, 21.0)])],
                title="Time to converge", x_label="BrokerTokens", y_label="seconds")

Both axes get 5 to 8 "nice" ticks (steps of 1, 2, 2.5 or 5 x 10^k) that cover the data, with light grey gridlines.
Series take the colours of the Okabe-Ito palette (colour-blind friendly) by their position in the list, so the same
series keeps its colour when another one is empty; the palette repeats after eight series. An empty series draws
nothing and is named "(no data)" in the legend; a series of one point (or of equal points) gets a marker.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape

# Okabe & Ito, "Color Universal Design" (2008), most distinct first; its yellow (too light on white) is a grey here.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999")

_FONT_SIZE = 12
_TITLE_SIZE = 16
_CHAR_WIDTH = 7.0  # estimated advance of one character at _FONT_SIZE, for the layout
_GRID = "#dddddd"
_AXIS = "#333333"
_DASH = "6 4"
_MIN_PLOT = 40  # px, the smallest plot area (either way) worth drawing
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a chart: (x, y) points in drawing order (x ascending)."""

    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False  # e.g. a reference or floor line
    markers: bool = False  # a small circle at each point, for sparse series


def nice_ticks(lo: float, hi: float) -> list[float]:
    """Return 5 to 8 (where possible) evenly spaced round values from at most `lo` to at least `hi`.

    The step is 1, 2, 2.5 or 5 x 10^k; equal bounds are widened first (0 to 0..1, v to v +- 10 %).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"nice_ticks needs finite bounds with lo <= hi, got {lo!r} and {hi!r}")
    if lo == hi:
        lo, hi = (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1) if lo else (0.0, 1.0)
    magnitude = math.floor(math.log10((hi - lo) / 6))
    best: tuple[tuple[int, int, float], int, int, float] | None = None
    for exponent in (magnitude - 1, magnitude, magnitude + 1):
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            step = mantissa * 10.0**exponent
            first = math.floor(lo / step + 1e-9)
            last = math.ceil(hi / step - 1e-9)
            count = last - first + 1
            penalty = 0 if 5 <= count <= 8 else min(abs(count - 5), abs(count - 8))
            key = (penalty, abs(count - 6) + (mantissa == 2.5), step)  # 2.5 only when clearly better
            if best is None or key < best[0]:
                best = (key, first, last, step)
    assert best is not None
    _, first, last, step = best
    return [_clean(i * step) for i in range(first, last + 1)]


def format_number(value: float) -> str:
    """Format a value compactly for a label: 1000 -> "1,000", 0.5 -> "0.5", 2.50 -> "2.5", 0.00002 -> "2e-05"."""
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.3g}"
    rounded = round(value, 10) + 0.0  # + 0.0 turns -0.0 into 0.0
    if rounded.is_integer():
        return f"{rounded:,.0f}"
    return f"{rounded:,.10f}".rstrip("0").rstrip(".")


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 420,
    y_min: float | None = 0.0,
) -> str:
    """Return the whole SVG document as text.

    The x axis fits the data; the y axis starts at `y_min` (or lower, where the data is lower) or, with None, fits
    the data too. Raises ValueError when every series is empty, a coordinate is not finite or the size leaves no
    room for the plot.
    """
    points = [p for s in series for p in s.points]
    if not points:
        raise ValueError(f"line_chart needs at least one point, but all {len(series)} series are empty")
    bad = [p for p in points if not (math.isfinite(p[0]) and math.isfinite(p[1]))]
    if bad:
        raise ValueError(f"line_chart needs finite coordinates, got {bad}")
    ys = [y for _, y in points]
    y_lo = min(ys) if y_min is None else min(y_min, *ys)
    x_ticks = nice_ticks(min(x for x, _ in points), max(x for x, _ in points))
    y_ticks = nice_ticks(y_lo, max(ys))
    legend = _legend_rows(series, width)
    frame = _frame(x_ticks, y_ticks, width, height, len(legend))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' font-family="Helvetica, Arial, sans-serif" font-size="{_FONT_SIZE}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        _text(width / 2, 26, title, anchor="middle", extra=f' font-size="{_TITLE_SIZE}" font-weight="bold"'),
        *_axes(frame, x_ticks, y_ticks, x_label, y_label),
        *(_series(frame, s, PALETTE[i % len(PALETTE)]) for i, s in enumerate(series) if s.points),
        *_legend(frame, legend, width),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def write_chart(
    path: pathlib.Path,
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 420,
    y_min: float | None = 0.0,
) -> None:
    """Write `line_chart(series, ...)` to `path` (utf-8)."""
    svg = line_chart(series, title=title, x_label=x_label, y_label=y_label, width=width, height=height, y_min=y_min)
    path.write_text(svg, encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class _Frame:
    """The plot area in px and the data range it shows."""

    left: float
    top: float
    width: float
    height: float
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def px(self, x: float) -> float:
        return self.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * self.width

    def py(self, y: float) -> float:
        return self.bottom - (y - self.y_lo) / (self.y_hi - self.y_lo) * self.height


@dataclasses.dataclass(frozen=True)
class _LegendEntry:
    text: str
    colour: str
    dashed: bool
    markers: bool
    empty: bool


_LEGEND_ROW = 20  # px
_LEGEND_SWATCH = 28  # px of line before the label
_LEGEND_GAP = 20  # px between entries


def _legend_rows(series: Sequence[Series], width: int) -> list[list[_LegendEntry]]:
    """Lay the legend entries out in rows that fit the chart's width (estimated text widths)."""
    rows: list[list[_LegendEntry]] = []
    used = math.inf
    for i, s in enumerate(series):
        entry = _LegendEntry(
            text=s.label if s.points else f"{s.label} (no data)",
            colour=PALETTE[i % len(PALETTE)],
            dashed=s.dashed,
            markers=_needs_markers(s),
            empty=not s.points,
        )
        need = _entry_width(entry)
        if used + _LEGEND_GAP + need > width - 40:
            rows.append([])
            used = -_LEGEND_GAP
        rows[-1].append(entry)
        used += _LEGEND_GAP + need
    return rows


def _entry_width(entry: _LegendEntry) -> float:
    return _LEGEND_SWATCH + 6 + len(entry.text) * _CHAR_WIDTH


def _frame(x_ticks: list[float], y_ticks: list[float], width: int, height: int, legend_rows: int) -> _Frame:
    label_width = max(len(format_number(t)) for t in y_ticks) * _CHAR_WIDTH
    # y axis title, tick labels, tick marks; and room for half the first and last x tick labels (centred on the tick)
    left = max(24 + label_width + 10, len(format_number(x_ticks[0])) * _CHAR_WIDTH / 2 + 8)
    top = 44  # title
    bottom = 6 + 18 + 24 + legend_rows * _LEGEND_ROW + 8  # tick marks, tick labels, x axis title, legend
    right = max(24, len(format_number(x_ticks[-1])) * _CHAR_WIDTH / 2 + 8)
    plot_width, plot_height = width - left - right, height - top - bottom
    if plot_width < _MIN_PLOT or plot_height < _MIN_PLOT:
        raise ValueError(
            f"a {width} x {height} chart leaves no room for the plot ({plot_width:.0f} x {plot_height:.0f})"
        )
    return _Frame(left, top, plot_width, plot_height, x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1])


def _axes(frame: _Frame, x_ticks: list[float], y_ticks: list[float], x_label: str, y_label: str) -> list[str]:
    """Gridlines, axis lines, tick marks and labels, and the two axis titles."""
    grid = [_line(frame.px(x), frame.top, frame.px(x), frame.bottom) for x in x_ticks]
    grid += [_line(frame.left, frame.py(y), frame.right, frame.py(y)) for y in y_ticks]
    marks = [_line(frame.px(x), frame.bottom, frame.px(x), frame.bottom + 5) for x in x_ticks]
    marks += [_line(frame.left - 5, frame.py(y), frame.left, frame.py(y)) for y in y_ticks]
    x_texts = [_text(frame.px(x), frame.bottom + 20, format_number(x), anchor="middle") for x in x_ticks]
    y_texts = [_text(frame.left - 8, frame.py(y) + 4, format_number(y), anchor="end") for y in y_ticks]
    y_title_x, y_title_y = 16, frame.top + frame.height / 2
    return [
        f'<g stroke="{_GRID}" stroke-width="1">',
        *grid,
        "</g>",
        f'<g stroke="{_AXIS}" stroke-width="1">',
        _line(frame.left, frame.top, frame.left, frame.bottom),
        _line(frame.left, frame.bottom, frame.right, frame.bottom),
        *marks,
        "</g>",
        f'<g fill="{_AXIS}">',
        *x_texts,
        *y_texts,
        "</g>",
        _text(frame.left + frame.width / 2, frame.bottom + 42, x_label, anchor="middle"),
        _text(
            y_title_x,
            y_title_y,
            y_label,
            anchor="middle",
            extra=f' transform="rotate(-90 {_n(y_title_x)} {_n(y_title_y)})"',
        ),
    ]


def _series(frame: _Frame, series: Series, colour: str) -> str:
    """One <g> per series: its polyline and, where `_needs_markers`, its markers."""
    coordinates = [(frame.px(x), frame.py(y)) for x, y in series.points]
    dash = f' stroke-dasharray="{_DASH}"' if series.dashed else ""
    parts = [
        f"<g>{_title(series.label)}",
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash}'
        f' points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in coordinates)}"/>',
    ]
    if _needs_markers(series):
        parts += [_circle(x, y, colour) for x, y in coordinates]
    parts.append("</g>")
    return "\n".join(parts)


def _legend(frame: _Frame, rows: list[list[_LegendEntry]], width: int) -> list[str]:
    """The legend below the x axis title, each row centred on the chart."""
    parts = ['<g class="legend">']
    for row_index, row in enumerate(rows):
        y = frame.bottom + 62 + row_index * _LEGEND_ROW
        row_width = sum(_entry_width(e) for e in row) + _LEGEND_GAP * (len(row) - 1)
        x = (width - row_width) / 2
        for entry in row:
            if not entry.empty:
                dash = f' stroke-dasharray="{_DASH}"' if entry.dashed else ""
                parts.append(
                    f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + _LEGEND_SWATCH)}" y2="{_n(y)}"'
                    f' stroke="{entry.colour}" stroke-width="2"{dash}/>'
                )
                if entry.markers:
                    parts.append(_circle(x + _LEGEND_SWATCH / 2, y, entry.colour))
            parts.append(_text(x + _LEGEND_SWATCH + 6, y + 4, entry.text, anchor="start"))
            x += _entry_width(entry) + _LEGEND_GAP
    parts.append("</g>")
    return parts


def _needs_markers(series: Series) -> bool:
    """Markers where asked for, and for a series whose points all coincide, as its line would be invisible."""
    return series.markers or len(set(series.points)) == 1


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"/>'


def _circle(x: float, y: float, colour: str) -> str:
    return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{colour}" stroke="white" stroke-width="1"/>'


def _text(x: float, y: float, text: str, *, anchor: str, extra: str = "") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{extra}>{_escape(text)}</text>'


def _title(text: str) -> str:
    return f"<title>{_escape(text)}</title>"


def _escape(text: str) -> str:
    """Text as XML character data: &, < and > escaped, control characters (not allowed in XML 1.0) as spaces."""
    return escape(_CONTROL.sub(" ", text))


def _n(value: float) -> str:
    """A coordinate in px, to 2 decimals without trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _clean(value: float) -> float:
    """Drop the binary noise of a computed tick (0.30000000000000004 -> 0.3) and the sign of -0.0."""
    return float(f"{value:.12g}") + 0.0
