"""charts.py draws well-formed SVG from values: lines over time, bars, bars with intervals."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from app.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
HOUR = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    return root


def test_ticks_are_round_and_cover_the_range():
    assert charts.nice_ticks(0, 0.37) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert charts.nice_ticks(-0.03, 0.05, 4) == [-0.04, -0.02, 0.0, 0.02, 0.04, 0.06]
    assert charts.nice_ticks(5, 5)[0] <= 5 <= charts.nice_ticks(5, 5)[-1]
    with pytest.raises(ValueError):
        charts.nice_ticks(0, float("nan"))


def test_a_line_chart_draws_one_line_per_series_and_breaks_at_gaps():
    series = {"NCF": [(HOUR + timedelta(hours=h), 0.1 * h) for h in range(4)],
              "Popularity": [(HOUR, 0.2), (HOUR + timedelta(hours=1), None), (HOUR + timedelta(hours=2), 0.3),
                             (HOUR + timedelta(hours=3), 0.25)]}
    root = parse(charts.line_chart(series, title="hit rate"))
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 3  # NCF whole, Popularity broken in two by its missing hour
    assert {line.get("stroke") for line in lines} == {charts.colour(0), charts.colour(1)}
    assert len(root.findall(f"{SVG}circle")) == 7
    legend = [text.text for text in root.findall(f"{SVG}text")]
    assert "NCF" in legend and "Popularity" in legend and root.find(f"{SVG}title").text == "hit rate"


def test_charts_without_values_say_so():
    for markup in (charts.line_chart({"NCF": [(HOUR, None)]}, title="t", empty="no traffic yet"),
                   charts.bar_chart([], title="t", empty="no traffic yet"),
                   charts.interval_bars([], title="t", empty="no traffic yet")):
        assert [text.text for text in parse(markup).iter(f"{SVG}text")] == ["no traffic yet"]


def test_bar_lengths_follow_the_values_and_labels_are_escaped():
    root = parse(charts.bar_chart([("services", 150), ("<users>", 75)], title="counts & more"))
    widths = [float(rect.get("width")) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert "<users>" in [text.text for text in root.iter(f"{SVG}text")]  # escaped in the markup, text once parsed


def test_interval_bars_draw_whiskers_on_both_sides_of_zero():
    bars = [{"label": "A", "value": 0.1, "low": 0.05, "high": 0.15, "tone": "control"},
            {"label": "B", "value": -0.02, "low": -0.05, "high": 0.01, "tone": "worse"},
            {"label": "C", "value": None}]
    markup = charts.interval_bars(bars, title="difference")
    root = parse(markup)
    rects = list(root.iter(f"{SVG}rect"))
    assert [rect.get("fill") for rect in rects] == [charts.TONES["control"], charts.TONES["worse"]]
    zero = next(float(line.get("x1")) for line in root.iter(f"{SVG}line") if line.get("stroke") == "#9ca3af")
    assert float(rects[0].get("x")) == pytest.approx(zero)  # A grows right from zero
    assert float(rects[1].get("x")) + float(rects[1].get("width")) == pytest.approx(zero)  # B left of it
    assert "no data" in [text.text for text in root.iter(f"{SVG}text")]
    assert "95% interval 5.0% to 15.0%" in markup


def test_no_chart_refers_to_anything_outside():
    series = {"x": [(HOUR, 1.0)]}
    for markup in (charts.line_chart(series, title="t"), charts.bar_chart([("a", 1)], title="t"),
                   charts.interval_bars([{"label": "a", "value": 1, "low": 0, "high": 2}], title="t")):
        assert "href" not in markup and "style=" not in markup and "http://www.w3.org/2000/svg" in markup
        assert markup.count("http") == 1


def test_a_given_time_range_lines_charts_up():
    series = {"NCF": [(HOUR + timedelta(hours=2), 1.0), (HOUR + timedelta(hours=3), 2.0)]}
    alone = parse(charts.line_chart(series, title="t"))
    spanned = parse(charts.line_chart(series, title="t", x_range=(HOUR, HOUR + timedelta(hours=4))))
    first = [float(c.get("cx")) for c in alone.iter(f"{SVG}circle")]
    later = [float(c.get("cx")) for c in spanned.iter(f"{SVG}circle")]
    assert first[0] < later[0] and later[1] - later[0] < first[1] - first[0]
