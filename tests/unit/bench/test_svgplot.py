"""bench/svgplot.py: the SVG line charts of the benchmarks are valid XML and show what they are given."""

from __future__ import annotations

import itertools
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

# bench/ is no package: the test imports the module from there, while mypy (run from the repository's root, which is
# on its search path) finds it as bench.svgplot, and so checks the calls below against the real signatures.
if TYPE_CHECKING:
    from bench import svgplot
else:
    import svgplot

SVG = "{http://www.w3.org/2000/svg}"
NICE_MANTISSAS = {1.0, 2.0, 2.5, 5.0}


def _chart(
    series: list[svgplot.Series],
    *,
    y_label: str = "seconds",
    width: int = 720,
    height: int = 420,
    y_min: float | None = 0.0,
) -> str:
    return svgplot.line_chart(
        series,
        title="Time to converge",
        x_label="BrokerTokens",
        y_label=y_label,
        width=width,
        height=height,
        y_min=y_min,
    )


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def _polylines(root: ET.Element) -> list[ET.Element]:
    return list(root.iter(f"{SVG}polyline"))


def _tick_values(root: ET.Element, anchor: str) -> list[float]:
    """The numbers of the tick labels of one axis: the x axis's are centred ("middle"), the y axis's "end"."""
    ticks = root.find(f"{SVG}g[@fill]")
    assert ticks is not None
    return [float((t.text or "").replace(",", "")) for t in ticks.iter(f"{SVG}text") if t.get("text-anchor") == anchor]


def _is_nice_step(step: float) -> bool:
    exponent = 0
    while step >= 10:
        step, exponent = step / 10, exponent + 1
    while step < 1:
        step, exponent = step * 10, exponent - 1
    return any(abs(step - m) < 1e-9 for m in NICE_MANTISSAS)


THREE = [
    svgplot.Series("p50", [(10, 1.2), (100, 3.4), (1000, 21.0)], markers=True),
    svgplot.Series("p99", [(10, 2.0), (100, 5.1), (1000, 30.5)], markers=True),
    svgplot.Series("floor", [(10, 0.5), (1000, 0.5)], dashed=True),
]


def test_the_chart_is_an_svg_document_of_the_given_size_with_title_and_axis_titles() -> None:
    root = _parse(_chart(THREE, width=640, height=360))
    assert (root.get("width"), root.get("height")) == ("640", "360")
    assert {"Time to converge", "BrokerTokens", "seconds"} <= set(_texts(root))


def test_each_non_empty_series_is_one_polyline_in_its_own_colour_and_only_the_dashed_one_is_dashed() -> None:
    series = [*THREE, svgplot.Series("no run", [])]
    polylines = _polylines(_parse(_chart(series)))
    assert len(polylines) == 3
    assert len({p.get("stroke") for p in polylines}) == 3
    assert [p.get("stroke-dasharray") is not None for p in polylines] == [False, False, True]
    assert [len((p.get("points") or "").split()) for p in polylines] == [3, 3, 2]


def test_markers_are_drawn_for_the_series_that_ask_for_them() -> None:
    root = _parse(_chart(THREE))
    markers = [c for g in root.iter(f"{SVG}g") if g.find(f"{SVG}polyline") is not None for c in g.iter(f"{SVG}circle")]
    assert len(markers) == 6  # p50 and p99, three points each; the floor line has none


def test_the_legend_names_each_series_and_escaped_text_survives_the_round_trip() -> None:
    label = 'converge <p50> & "more"'
    series = [svgplot.Series(label, [(1, 1), (2, 2)]), svgplot.Series("p99", [(1, 2), (2, 3)])]
    svg = _chart(series, y_label="<seconds>")
    root = _parse(svg)
    legend = root.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    assert [t.text for t in legend.iter(f"{SVG}text")] == [label, "p99"]
    assert "<seconds>" in _texts(root)
    assert "<p50>" not in svg


def test_an_empty_series_is_named_in_the_legend_as_without_data() -> None:
    root = _parse(_chart([*THREE, svgplot.Series("crashed run", [])]))
    assert "crashed run (no data)" in _texts(root)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        (0, 1000),
        (10, 1000),
        (0, 21),
        (0.001, 0.0037),
        (-3, 7),
        (0, 12345),
        (3.2, 3.3),
        (0, 1),
        (7, 7),
        (0, 0),
        (-2, -2),
    ],
)
def test_nice_ticks_are_5_to_8_round_evenly_spaced_values_covering_the_range(lo: float, hi: float) -> None:
    ticks = svgplot.nice_ticks(lo, hi)
    assert 5 <= len(ticks) <= 8
    assert ticks[0] <= lo and ticks[-1] >= hi
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    assert _is_nice_step(steps.pop())


def test_the_tick_labels_are_nice_numbers_covering_the_data() -> None:
    root = _parse(_chart(THREE))
    x_ticks, y_ticks = _tick_values(root, "middle"), _tick_values(root, "end")
    assert x_ticks == [0, 200, 400, 600, 800, 1000]
    assert y_ticks[0] == 0 and y_ticks[-1] >= 30.5  # y_min=0.0 by default
    assert 5 <= len(y_ticks) <= 8 and _is_nice_step(y_ticks[1] - y_ticks[0])
    assert "1,000" in _texts(root)


def test_y_min_none_fits_the_y_axis_to_the_data() -> None:
    root = _parse(_chart([svgplot.Series("rss", [(1, 101.0), (2, 104.0), (3, 103.0)])], y_min=None))
    y_ticks = _tick_values(root, "end")
    assert y_ticks[0] <= 101 and y_ticks[-1] >= 104
    assert y_ticks[0] >= 100


@pytest.mark.parametrize(
    ("value", "text"),
    [(1000, "1,000"), (0.5, "0.5"), (2.5, "2.5"), (0, "0"), (-0.0, "0"), (1234567, "1,234,567"), (0.1 * 3, "0.3")],
)
def test_numbers_are_formatted_compactly(value: float, text: str) -> None:
    assert svgplot.format_number(value) == text


def test_the_output_is_deterministic() -> None:
    assert _chart(THREE) == _chart(list(THREE))


def test_all_series_empty_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        _chart([svgplot.Series("a", []), svgplot.Series("b", [])])
    with pytest.raises(ValueError, match="empty"):
        _chart([])


@pytest.mark.parametrize("points", [[(5.0, 3.0)], [(5.0, 3.0), (5.0, 3.0)]])
def test_a_single_point_or_equal_min_and_max_renders(points: list[tuple[float, float]]) -> None:
    root = _parse(_chart([svgplot.Series("one", points)], y_min=None))
    assert len(_polylines(root)) == 1
    assert root.find(f".//{SVG}circle") is not None  # a single point is drawn as a marker
    x_ticks = _tick_values(root, "middle")
    assert x_ticks[0] < 5 < x_ticks[-1]


def test_write_chart_writes_the_same_document_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "chart.svg"
    series = [svgplot.Series("délai ≤ 1 s", [(1, 1), (2, 4)])]
    svgplot.write_chart(path, series, title="Time to converge", x_label="BrokerTokens", y_label="seconds")
    assert path.read_bytes() == _chart(series).encode("utf-8")
    assert "délai ≤ 1 s" in _texts(_parse(path.read_text(encoding="utf-8")))
