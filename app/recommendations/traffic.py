"""Served panels and what followed them, per engine and hour: what the fold counted
(app/pipelines/served_outcomes.py), read for the dashboard's charts and GET /stats/traffic."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.storage.served_outcomes import TrafficHour


def traffic_series(hours: int = 48, now: datetime | None = None) -> list[dict]:
    """Rows {hour, engine, panels, linked_panels, clicks, panel_clicks, page_clicks, orders, hit_rate}
    of the last `hours` hours, oldest first; hit_rate = panel clicks / clicks leaving the page."""
    since = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    rows = []
    for hour in TrafficHour.objects(hour__gte=since).order_by("hour", "engine"):
        rows.append({
            "hour": hour.hour.replace(tzinfo=timezone.utc), "engine": hour.engine, "panels": hour.panels,
            "linked_panels": hour.linked_panels, "clicks": hour.clicks, "panel_clicks": hour.clicks,
            "page_clicks": hour.page_clicks, "orders": hour.orders,
            "hit_rate": round(hour.clicks / hour.page_clicks, 4) if hour.page_clicks else None,
        })
    return rows
