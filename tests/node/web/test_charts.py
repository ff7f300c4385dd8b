"""The server-drawn charts (`web.charts`): any series gives valid SVG whose shapes stay in
the view box, with no NaN or infinity, and a title and description for a screen reader."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from hypothesis import given, strategies as st

from yimen.node.web import charts

NS = "{http://www.w3.org/2000/svg}"
anything = st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-10**30, max_value=10**30)
labels = st.text(min_size=0, max_size=12)


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, every text escaped
    for el in root.iter():  # (labels go into texts only: no attribute may say NaN or infinity)
        assert not [v for v in el.attrib.values() if re.search(r"nan|inf", v, re.I)], el.attrib
    _, _, w, h = (float(v) for v in root.get("viewBox").split())
    for el in root.iter():
        for attr in ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height"):
            if el.get(attr) is not None:
                v = float(el.get(attr))
                assert math.isfinite(v) and 0 <= v <= (w if "x" in attr or attr == "width" else h), (el.tag, attr, v)
        if el.tag == f"{NS}rect":
            assert float(el.get("x")) + float(el.get("width")) <= w + 0.05
            assert float(el.get("y")) + float(el.get("height")) <= h + 0.05
        for point in (el.get("points") or "").split():
            x, y = (float(c) for c in point.split(","))
            assert 0 <= x <= w and 0 <= y <= h, point
    return root


def as_read(text: str) -> str | None:
    """`text` as an XML parser reads it back: what XML forbids dropped, line ends made \\n."""
    return charts.NOT_XML.sub("", text).replace("\r\n", "\n").replace("\r", "\n") or None


def named(root: ET.Element, title: str, desc: str) -> None:
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == as_read(title) and root.find(f"{NS}desc").text == as_read(desc)
    assert set(root.get("aria-labelledby").split()) == {root.find(f"{NS}title").get("id"), root.find(f"{NS}desc").get("id")}


@given(st.lists(st.tuples(labels, anything), max_size=120), labels, labels)
def test_any_bar_series_is_valid_svg_inside_its_view_box(series, title, desc):
    svg = charts.bar_chart("c", [lab for lab, _ in series], [v for _, v in series], title, desc)
    root = parsed(svg)
    named(root, title, desc)
    bars = [r for r in root.iter(f"{NS}rect")]
    assert len(bars) == len(series)
    top, _ = charts.scale(max((charts.clean(v) for _, v in series), default=0))
    for (_, v), bar in zip(series, bars):  # a bar's height is its value's share of the axis (0: cannot be drawn)
        assert math.isclose(float(bar.get("height")), charts.PLOT_H * charts.clean(v) / top, abs_tol=0.1)


@given(st.dictionaries(labels, st.lists(st.tuples(anything, anything), max_size=800), max_size=6), labels)
def test_any_line_series_is_valid_svg_inside_its_view_box(series, title):
    root = parsed(charts.line_chart("l", series, title, "d", x_fmt=lambda t: f"{t:.0f}"))
    named(root, title, "d")
    for line in root.iter(f"{NS}polyline"):
        assert len(line.get("points").split()) <= charts.MAX_POINTS


@given(st.floats(min_value=0, max_value=charts.CAP, allow_nan=False), st.sampled_from([(1,), (1, 60, 3600, 86400)]))
def test_the_value_axis_tops_every_value_in_a_few_round_steps(v, units):
    top, step = charts.scale(v, units)
    assert top >= v * (1 - 1e-12) and top / step <= charts.MAX_STEPS + 1e-9 and top - step < max(v, 1e-300)
    unit = max([u for u in units if v >= u] or [1])
    mantissa = step / unit / 10 ** math.floor(math.log10(step / unit) + 1e-9)
    assert step >= unit and any(math.isclose(mantissa, m) for m in (1, 2, 5)), (step, unit)


def test_a_peak_survives_thinning():
    points = [(float(t), 0.0) for t in range(10_000)]
    points[4321] = (4321.0, 99.0)
    thin = charts.thin(points, 100)
    assert len(thin) == 100 and (4321.0, 99.0) in thin and thin == sorted(thin)


def test_an_empty_line_chart_says_so():
    root = parsed(charts.line_chart("l", {}, "t", "d", x_fmt=str, empty="尚无采样"))
    assert "尚无采样" in [t.text for t in root.iter(f"{NS}text")]


def test_one_sample_still_has_a_readable_time_axis():
    root = parsed(charts.line_chart("l", {"p": [(1_800_000_000, 5)]}, "t", "d", x_fmt=lambda t: f"{t:.0f}"))
    labels = [t.text for t in root.iter(f"{NS}text") if t.get("y") == str(charts.H - charts.BOTTOM + 16)]
    assert len(set(labels)) == charts.TICKS + 1
