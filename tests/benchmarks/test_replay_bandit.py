"""The pure parts of benchmarks/replay_obd.py: the log, the dump, the requests, the off-policy estimate."""
import math

import pytest

from app.wire.dump import check_dump
from benchmarks.replay_bandit import (
    ClickPopularity,
    Impression,
    PanelClicks,
    catalogue_dump,
    click_event,
    logged_click_rate,
    panel_request,
    read_impressions,
)

HEADER = ",timestamp,item_id,position,click,propensity_score,user_feature_0\n"


def impression(row, item, clicked, slot=1, propensity=1 / 80):
    return Impression(row, item, slot, clicked, propensity, 1_574_553_600 + row)


def test_the_log_is_read_in_time_order(tmp_path):
    log = tmp_path / "all.csv"
    log.write_text(HEADER + "0,2019-11-24 00:00:53.965051+00:00,14,3,0,0.0125,a\n"
                            "1,2019-11-24 00:00:34.762830+00:00,7,1,1,0.0125,b\n"
                            "2,2019-11-24 00:00:53.965051+00:00,9,2,0,0.0125,c\n")
    rows = read_impressions(log)
    assert [(r.row, r.item_id, r.slot, r.clicked) for r in rows] == [(1, 7, 1, True), (0, 14, 3, False),
                                                                     (2, 9, 2, False)]
    assert rows[0].propensity == 0.0125 and rows[0].visitor != rows[1].visitor


def test_the_catalogue_is_a_dump_the_service_accepts(tmp_path):
    context = tmp_path / "item_context.csv"
    context.write_text(",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3\n"
                       "0,0,-0.5,aaaa1111,bbbb2222,cccc3333\n1,1,0.3,aaaa1111,dddd4444,cccc3333\n")
    dump = catalogue_dump(context)
    check_dump(dump)
    assert [s["id"] for s in dump["services"]] == [0, 1] and dump["users"] == []
    names = {c["id"]: c["name"] for c in dump["categories"]}
    assert len(names) == 4  # feature 1 and 3 shared, feature 2 differs
    assert sorted(names[c] for c in dump["services"][0]["categories"]) == [
        "feature_1 aaaa1111", "feature_2 bbbb2222", "feature_3 cccc3333"]


def test_requests_are_anonymous_panels_and_probes_carry_no_visit():
    shown = impression(5, 3, True)
    panel = panel_request(shown, "2026-12-06T12:00:00.000Z")
    assert "user_id" not in panel and panel["unique_id"] == shown.visitor and panel["panel_id"] == "v1"
    assert panel["visit_id"] and panel["client_id"] == "marketplace" and "k" not in panel
    listing = panel_request(shown, "2026-12-06T12:00:00.000Z", k=10)
    assert listing["k"] == 10 and listing["visit_id"] is None
    probe = panel_request(shown, "2026-12-06T12:00:00.000Z", engine="Popularity")
    assert probe["engine_version"] == "Popularity" and probe["visit_id"] is None and probe["client_id"] == "undefined"
    event = click_event(shown, "2026-12-06T12:00:00.001Z")["events"][0]
    assert event["type"] == "click" and event["service_id"] == 3 and event["unique_id"] == shown.visitor
    assert event["id"] == click_event(shown, "2026-12-06T12:00:09.000Z")["events"][0]["id"]  # a retry counts once


def test_ips_counts_a_click_on_an_item_the_panel_held_as_one_of_its_slots():
    ways = PanelClicks()
    ways.add(impression(0, 4, True), panel=[4, 5, 6], listing=[4, 5, 6, 7])  # matched, clicked: weight 80/3
    ways.add(impression(1, 9, True), panel=[4, 5, 6], listing=[9])  # clicked, not in the panel
    ways.add(impression(2, 5, False), panel=[4, 5, 6], listing=[])  # matched, no click
    ways.add(impression(3, 1, False), panel=[], listing=[])  # an empty answer matches nothing
    assert ways.matched == 2 and ways.impressions == 4
    assert ways.click_rate().value == pytest.approx((80 / 3) / 4)
    assert ways.click_hits() == (2, 1, 2)
    # Paired with the logged policy on the same rows: (80/3 - 1 - 1 + 0 + 0) / 4.
    assert ways.versus_logged().value == pytest.approx((80 / 3 - 2) / 4)


def test_a_shorter_panel_spreads_its_probability_over_fewer_slots():
    ways = PanelClicks()
    ways.add(impression(0, 4, True), panel=[4], listing=[4])
    assert ways.click_rate().value == pytest.approx(80.0)


def test_the_client_popularity_ranks_by_clicks_then_id():
    popularity = ClickPopularity([3, 1, 2, 4])
    assert popularity.top(3) == [1, 2, 3]
    for row, item in enumerate([4, 4, 2]):
        popularity.record(impression(row, item, True))
    popularity.record(impression(9, 3, False))  # an impression alone changes nothing
    popularity.record(impression(10, 77, True))  # not in the catalogue
    assert popularity.top(3) == [4, 2, 1]


def test_the_logged_click_rate_is_the_mean_of_clicks():
    rate = logged_click_rate([impression(i, 1, i % 4 == 0) for i in range(8)])
    assert rate.value == 0.25 and rate.low < 0.25 < rate.high and not math.isnan(rate.low)
