"""Charts as inline SVG, drawn on the server: values in, markup out (pure code, no I/O).

No chart library and no script: the page shows them offline and under a strict
Content-Security-Policy. Colours are presentation attributes, not `style`, for the same
reason. Every chart is an `<svg role="img">` with a `<title>`; every point and bar has a
`<title>` of its own, which browsers show on hover."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

PALETTE = ("#2563eb", "#d97706", "#16a34a", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
TONES = {"control": "#6b7280", "better": "#16a34a", "worse": "#dc2626", None: "#2563eb"}
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
ROW = 30  # height of one bar's row
MARKED_POINTS = 120  # a line of more points gets no dot (and no hover text) per point


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("ticks of a non-finite range")
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * m for m in (1, 2, 5, 10) if power * m >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" aria-label="{escape(title)}" {FONT}>'
            f'<title>{escape(title)}</title>{"".join(body)}</svg>')


def _empty(width: int, height: int, title: str, message: str) -> str:
    return _svg(width, height, title, [
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="#6b7280">{escape(message)}</text>'])


def _time_label(moment: datetime, span_seconds: float) -> str:
    return moment.strftime("%d %b %H:%M" if span_seconds > 86400 else "%H:%M" if span_seconds > 3600 else "%H:%M:%S")


def line_chart(series: Mapping[str, Sequence[tuple[datetime, float | None]]], *, title: str, width: int = 720,
               height: int = 260, y_format: str = "{:g}", y_min: float | None = 0.0,
               x_range: tuple[datetime, datetime] | None = None, empty: str = "no data yet") -> str:
    """One line per named series over time; a None value breaks its line. The time axis spans
    `x_range` when given (charts drawn one above the other then line up), else the values."""
    points = [(t, v) for values in series.values() for t, v in values if v is not None]
    if not points:
        return _empty(width, height, title, empty)
    left, right, top, bottom = 56, 130, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [t.timestamp() for t, _ in points] + [t.timestamp() for t in x_range or ()]
    t0, t1 = min(times), max(times)
    if t1 == t0:
        t0, t1 = t0 - 1800, t1 + 1800
    values = [v for _, v in points]
    ticks = nice_ticks(min(values) if y_min is None else min(y_min, min(values)), max(values))
    v0, v1 = ticks[0], ticks[-1]

    def x(t: datetime) -> float:
        return left + (t.timestamp() - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + plot_h - (v - v0) / (v1 - v0) * plot_h

    body = []
    for tick in ticks:
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                    f'stroke="#e5e7eb"/>')
        body.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#374151">'
                    f'{escape(y_format.format(tick))}</text>')
    for i in range(5):
        at = t0 + (t1 - t0) * i / 4
        px = left + plot_w * i / 4
        label = _time_label(datetime.fromtimestamp(at, tz=points[0][0].tzinfo), t1 - t0)
        body.append(f'<text x="{px:.1f}" y="{height - 12}" text-anchor="middle" fill="#374151">{label}</text>')
    body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9ca3af"/>')
    for index, (name, values) in enumerate(series.items()):
        stroke = colour(index)
        runs, run = [], []
        for t, v in sorted(values, key=lambda point: point[0]):
            if v is not None:
                run.append((t, v))
            elif run:
                runs, run = runs + [run], []
        if run:
            runs.append(run)
        for run in runs:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            body.append(f'<polyline points="{path}" fill="none" stroke="{stroke}" stroke-width="2"/>')
            for t, v in run if len(run) <= MARKED_POINTS else ():
                body.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" fill="{stroke}">'
                            f'<title>{escape(name)} {t:%Y-%m-%d %H:%M}: {escape(y_format.format(v))}</title>'
                            f'</circle>')
        ly = top + 6 + index * 18
        body.append(f'<rect x="{width - right + 12}" y="{ly}" width="12" height="4" fill="{stroke}"/>'
                    f'<text x="{width - right + 30}" y="{ly + 6}" fill="#111827">{escape(name)}</text>')
    return _svg(width, height, title, body)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, width: int = 720,
              value_format: str = "{:,.0f}", empty: str = "nothing to show") -> str:
    """Horizontal bars, one per (label, value), the value written at the end of each."""
    if not bars:
        return _empty(width, 60, title, empty)
    left, right = 150, 80
    plot_w = width - left - right
    top = max([value for _, value in bars] + [0.0]) or 1.0
    body = []
    for row, (label, value) in enumerate(bars):
        y = 8 + row * ROW
        length = max(0.0, value) / top * plot_w
        body.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="#111827">{escape(label)}</text>'
                    f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="18" fill="{colour(0)}">'
                    f'<title>{escape(label)}: {escape(value_format.format(value))}</title></rect>'
                    f'<text x="{left + length + 6:.1f}" y="{y + 16}" fill="#374151">'
                    f'{escape(value_format.format(value))}</text>')
    return _svg(width, 16 + len(bars) * ROW, title, body)


def interval_bars(bars: Sequence[Mapping], *, title: str, width: int = 720, value_format: str = "{:.1%}",
                  empty: str = "no results yet") -> str:
    """Horizontal bars with the 95% interval as a whisker: each {"label", "value", "low", "high",
    "tone"} (tone: "control", "better", "worse" or None). A value None is drawn as "no data";
    the axis always holds zero, so differences on both sides of it read right."""
    shown = [bar for bar in bars if bar.get("value") is not None]
    if not bars:
        return _empty(width, 60, title, empty)
    left, right, bottom = 150, 90, 26
    plot_w = width - left - right
    ends = [0.0] + [v for bar in shown for v in (bar["value"], bar.get("low"), bar.get("high")) if v is not None]
    ticks = nice_ticks(min(ends), max(ends), 4)
    v0, v1 = ticks[0], ticks[-1]

    def x(v: float) -> float:
        return left + (v - v0) / (v1 - v0) * plot_w

    height = 8 + len(bars) * ROW + bottom
    body = []
    for tick in ticks:
        body.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="4" y2="{height - bottom}" '
                    f'stroke="{"#9ca3af" if tick == 0 else "#e5e7eb"}"/>'
                    f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" fill="#374151">'
                    f'{escape(value_format.format(tick))}</text>')
    for row, bar in enumerate(bars):
        y = 8 + row * ROW
        label = escape(str(bar["label"]))
        body.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="#111827">{label}</text>')
        value = bar.get("value")
        if value is None:
            body.append(f'<text x="{x(0) + 6:.1f}" y="{y + 15}" fill="#6b7280">no data</text>')
            continue
        low, high = bar.get("low"), bar.get("high")
        fill = TONES.get(bar.get("tone"), TONES[None])
        start, end = sorted((x(0), x(value)))
        interval = (f" (95% interval {value_format.format(low)} to {value_format.format(high)})"
                    if low is not None and high is not None else "")
        body.append(f'<rect x="{start:.1f}" y="{y + 5}" width="{end - start:.1f}" height="14" fill="{fill}" '
                    f'fill-opacity="0.75"><title>{label}: {escape(value_format.format(value) + interval)}</title>'
                    f'</rect>')
        if low is not None and high is not None:
            body.append(f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y + 12}" y2="{y + 12}" stroke="#111827" '
                        f'stroke-width="1.5"/>'
                        f'<line x1="{x(low):.1f}" x2="{x(low):.1f}" y1="{y + 6}" y2="{y + 18}" stroke="#111827"/>'
                        f'<line x1="{x(high):.1f}" x2="{x(high):.1f}" y1="{y + 6}" y2="{y + 18}" stroke="#111827"/>')
        body.append(f'<text x="{width - right + 8}" y="{y + 16}" fill="#374151">'
                    f'{escape(value_format.format(value))}</text>')
    return _svg(width, height, title, body)
