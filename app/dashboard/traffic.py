"""The Traffic page: panels served and the hit rate per engine, hour after hour, as counted
once each panel's attribution window passed (app/recommendations/traffic.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import render_template, request
from markupsafe import Markup

from app.dashboard import charts
from app.dashboard.blueprint import bp
from app.errors import InvalidInput
from app.recommendations.traffic import traffic_series

MOST_HOURS = 24 * 90
CHART_WIDTH = 1100
SPANS = ((24, "24 hours"), (48, "48 hours"), (24 * 7, "7 days"), (24 * 30, "30 days"))


def hours_argument() -> int:
    text = request.args.get("hours", "48")
    if not text.isdigit() or not 1 <= int(text) <= MOST_HOURS:
        raise InvalidInput(f"hours must be a whole number from 1 to {MOST_HOURS}",
                           {"hours": f"{text!r} is not 1 to {MOST_HOURS}"})
    return int(text)


def per_engine(rows: list[dict]) -> dict[str, dict[datetime, dict]]:
    by_engine: dict[str, dict[datetime, dict]] = {}
    for row in rows:
        by_engine.setdefault(row["engine"], {})[row["hour"]] = row
    return by_engine


def hour_grid(hours: int, now: datetime) -> list[datetime]:
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - timedelta(hours=back) for back in range(hours, -1, -1)]


def totals(by_engine: dict[str, dict[datetime, dict]]) -> list[dict]:
    rows = []
    for engine, hours in sorted(by_engine.items()):
        summed = {key: sum(row[key] for row in hours.values())
                  for key in ("panels", "linked_panels", "clicks", "page_clicks", "orders")}
        summed["hit_rate"] = summed["clicks"] / summed["page_clicks"] if summed["page_clicks"] else None
        rows.append({"engine": engine, **summed})
    return rows


@bp.route("/traffic")
def traffic():
    hours, now = hours_argument(), datetime.now(timezone.utc)
    by_engine = per_engine(traffic_series(hours))
    grid = hour_grid(hours, now)
    # An hour without a row served no panel of that engine; its hit rate is unknown, not 0.
    panels = {engine: [(hour, rows[hour]["panels"] if hour in rows else 0) for hour in grid]
              for engine, rows in sorted(by_engine.items())}
    hit_rates = {engine: [(hour, rows[hour]["hit_rate"] if hour in rows else None) for hour in grid]
                 for engine, rows in sorted(by_engine.items())}
    return render_template(
        "traffic.html", page="traffic", hours=hours, spans=SPANS, totals=totals(by_engine),
        panels=Markup(charts.line_chart(panels, title="panels served per hour, per engine", y_format="{:,.0f}",
                                        width=CHART_WIDTH, x_range=(grid[0], grid[-1]), empty="no panel counted yet")),
        hit_rate=Markup(charts.line_chart(hit_rates, title="hit rate per hour, per engine", y_format="{:.0%}",
                                          width=CHART_WIDTH, x_range=(grid[0], grid[-1]),
                                          empty="no click counted yet")))
