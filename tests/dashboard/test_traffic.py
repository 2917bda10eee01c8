"""The Traffic page: served panels and hit rate per engine over time, from the fold's hourly counts."""
from __future__ import annotations

import re

import pytest

from app.dashboard.traffic import hour_grid
from app.storage.jobs import utcnow
from tests.dashboard.dashboard_fixtures import store_traffic


def test_panels_and_hit_rate_are_drawn_per_engine(client, app, db):
    with app.app_context():
        store_traffic(hours=36)
    page = client.get("/dashboard/traffic").text
    assert "panels served per hour, per engine" in page and "hit rate per hour, per engine" in page
    assert page.count("<polyline") >= 4  # both engines in both charts; the hour without clicks breaks a line
    assert '<tr data-engine="Popularity">' in page and '<tr data-engine="Session">' in page
    rates = dict(re.findall(r'<tr data-engine="(\w+)">.*?([\d.]+)%</td>', page, re.S))
    assert float(rates["Session"]) == pytest.approx(30, abs=0.5)  # over the window
    assert float(rates["Popularity"]) == pytest.approx(20, abs=0.5)


def test_hours_outside_the_window_are_not_counted(client, app, db):
    with app.app_context():
        store_traffic(hours=36)
    page = client.get("/dashboard/traffic?hours=3").text
    assert '<tr data-engine="Session">' in page
    assert "Over the last 3 hours" in page


def test_no_traffic_says_so(client, db):
    page = client.get("/dashboard/traffic").text
    assert "no panel counted yet" in page and "No panel counted in this time." in page


@pytest.mark.parametrize("hours", ["0", "x", "100000"])
def test_a_bad_span_is_a_400_naming_it(client, db, hours):
    response = client.get(f"/dashboard/traffic?hours={hours}")
    assert response.status_code == 400 and "<code>hours</code>" in response.text


def test_the_hour_grid_ends_at_the_current_hour():
    now = utcnow()
    grid = hour_grid(3, now)
    assert len(grid) == 4 and grid[-1] == now.replace(minute=0, second=0, microsecond=0)
    assert (grid[-1] - grid[0]).total_seconds() == 3 * 3600
