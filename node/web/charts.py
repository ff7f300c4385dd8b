"""Charts drawn on the server as inline SVG: no chart library, no script, no style
attribute (SVG presentation attributes only, which the pages' CSP allows). Pure functions
of the data: a bar chart (one bar per label) and a line chart (lines over a time axis).

Each chart names itself for a screen reader (`role="img"`, a `<title>` and a `<desc>`
the caller writes); the page shows the same numbers in a table beside it. Values that are
not finite or are negative count as 0, and values are capped at `CAP`, so no input can
put a NaN or a shape outside the view box."""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping, Sequence

from markupsafe import Markup, escape

W, H = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 40
PLOT_W, PLOT_H = W - LEFT - RIGHT, H - TOP - BOTTOM
CAP = 1e15
TICKS = 4  # labels on the time axis
MAX_STEPS = 5  # grid lines above 0 on the value axis, at most
MAX_X_LABELS = 10
MAX_POINTS = PLOT_W // 2  # points drawn per line (more are thinned, see `thin`)
MAX_LEGEND = 4  # names above the plot (the table beside the chart names every series)
INK, MUTED, GRID = "#1f2933", "#616e7c", "#d9e2ec"
COLOURS = ("#1d4ed8", "#b42318", "#137333", "#b7791f", "#6d28d9")
FONT = 'font-size="12" font-family="sans-serif"'
Format = Callable[[float], str]
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean(v: float) -> float:
    """A value fit to draw: finite, at least 0, at most `CAP`."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return 0.0
    return min(v, CAP) if math.isfinite(v) and v > 0 else 0.0


def scale(v: float, units: Sequence[float] = (1,)) -> tuple[float, float]:
    """The value axis for values up to `v`: (top, step), the step 1, 2 or 5 times a power
    of ten of the largest of `units` that `v` reaches (seconds: a minute, an hour), never
    less than one unit, and at most `MAX_STEPS` steps to the top."""
    unit = max((u for u in units if v >= u), default=units[0])
    x = v / unit
    if x <= 1:
        return unit, unit
    power = 1.0
    while True:
        for step in (power, 2 * power, 5 * power):
            if math.ceil(x / step) <= MAX_STEPS:
                return unit * step * math.ceil(x / step), unit * step
        power *= 10


def thin(points: list[tuple[float, float]], most: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most `most` of the points (sorted by x): in each of `most` equal runs, the
    highest (a peak of lag is what the admin looks for)."""
    if len(points) <= most:
        return points
    size = len(points) / most
    return [max(points[int(i * size):int((i + 1) * size)] or points[-1:], key=lambda p: p[1]) for i in range(most)]


def _t(text: str) -> Markup:
    """`text` escaped, without the characters XML forbids (control characters)."""
    return escape(NOT_XML.sub("", str(text)))


def _n(x: float) -> str:
    return f"{x:.1f}"


def _y(value: float, top: float) -> float:
    return TOP + PLOT_H - PLOT_H * min(value / top, 1.0)


def _frame(chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    head = (f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{chart_id}-title">{_t(title)}</title><desc id="{chart_id}-desc">{_t(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _value_axis(top: float, step: float, fmt: Format) -> list[str]:
    """Grid lines and their labels, from 0 to `top` by `step`."""
    out = []
    for i in range(round(top / step) + 1):
        value = step * i
        y = _y(value, top)
        out.append(f'<line x1="{LEFT}" y1="{_n(y)}" x2="{W - RIGHT}" y2="{_n(y)}" stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end" fill="{MUTED}" {FONT}>'
                   f'{_t(fmt(value))}</text>')
    return out


def _plain(v: float) -> str:
    return f"{v:g}" if v < 1e6 else f"{v:.3g}"


def bar_chart(chart_id: str, labels: Sequence[str], values: Sequence[float], title: str, desc: str,
              fmt: Format = _plain) -> Markup:
    """One bar per label (at most `MAX_X_LABELS` labels written under the axis), the
    value axis from 0; `fmt` writes a value of the axis."""
    values = [clean(v) for v in values][:len(labels)]
    top, step = scale(max(values, default=0))
    body = _value_axis(top, step, fmt)
    n = max(len(values), 1)
    slot = PLOT_W / n
    every = max(1, math.ceil(n / MAX_X_LABELS))
    for i, (label, value) in enumerate(zip(labels, values)):
        y = _y(value, top)
        x = LEFT + i * slot + slot * 0.15
        body.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(slot * 0.7)}" height="{_n(TOP + PLOT_H - y)}" '
                    f'fill="{COLOURS[0]}"><title>{_t(label)}: {_t(fmt(value))}</title></rect>')
        if i % every == 0:
            body.append(f'<text x="{_n(LEFT + (i + 0.5) * slot)}" y="{H - BOTTOM + 16}" text-anchor="middle" '
                        f'fill="{INK}" {FONT}>{_t(label)}</text>')
    body.append(_baseline())
    return _frame(chart_id, title, desc, body)


def _baseline() -> str:
    return f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{W - RIGHT}" y2="{TOP + PLOT_H}" stroke="{INK}" stroke-width="1"/>'


def line_chart(chart_id: str, series: Mapping[str, Sequence[tuple[float, float]]], title: str, desc: str,
               x_fmt: Format, y_fmt: Format = _plain, units: Sequence[float] = (1,), empty: str = "") -> Markup:
    """A line per series of (x, y) points (x a time in seconds, any order), a dot on each
    point, the series' names as a legend above; `units`: of the value axis (see `scale`);
    `empty` is written across a chart with no point."""
    pts = {name: thin(sorted((clean(x), clean(y)) for x, y in points)) for name, points in series.items()}
    xs = [x for p in pts.values() for x, _ in p]
    top, step = scale(max((y for p in pts.values() for _, y in p), default=0), units)
    body = _value_axis(top, step, y_fmt)
    if not xs:
        body.append(f'<text x="{LEFT + PLOT_W / 2}" y="{TOP + PLOT_H / 2}" text-anchor="middle" fill="{MUTED}" '
                    f'{FONT}>{_t(empty)}</text>')
        body.append(_baseline())
        return _frame(chart_id, title, desc, body)
    lo, hi = min(xs), max(xs)
    if hi - lo < 60:  # one moment: half an hour either side, so the time axis still reads
        lo, hi = lo - 1800, hi + 1800
    at = lambda x: LEFT + PLOT_W * (x - lo) / (hi - lo)  # noqa: E731
    for i in range(TICKS + 1):
        x = lo + (hi - lo) * i / TICKS
        anchor = "start" if i == 0 else "end" if i == TICKS else "middle"
        body.append(f'<text x="{_n(at(x))}" y="{H - BOTTOM + 16}" text-anchor="{anchor}" fill="{INK}" {FONT}>'
                    f'{_t(x_fmt(x))}</text>')
    for k, (name, points) in enumerate(pts.items()):
        colour = COLOURS[k % len(COLOURS)]
        coords = " ".join(f"{_n(at(x))},{_n(_y(y, top))}" for x, y in points)
        body.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body.extend(f'<circle cx="{_n(at(x))}" cy="{_n(_y(y, top))}" r="2.5" fill="{colour}"/>' for x, y in points)
        if k >= MAX_LEGEND:
            continue
        lx = LEFT + k * 160
        body.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{colour}"/>'
                    f'<text x="{lx + 18}" y="16" fill="{INK}" {FONT}>{_t(name)}</text>')
    body.append(_baseline())
    return _frame(chart_id, title, desc, body)
