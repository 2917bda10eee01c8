"""A variant's totals: per-person counts summed the way the database's $group sums them."""
import json

import numpy as np
import pytest

from app.experiments.totals import VariantTotals

# Four people of one variant: panels seen, panel clicks, orders after a panel click, all clicks on those pages.
PANELS = np.array([3, 1, 0, 5])
CLICKS = np.array([1, 0, 0, 2])
ORDERS = np.array([1, 0, 0, 0])
PAGE_CLICKS = np.array([2, 1, 4, 2])


def test_per_person_counts_are_summed_and_people_without_a_panel_are_not_units():
    totals = VariantTotals.from_units(PANELS, CLICKS, ORDERS, PAGE_CLICKS)
    # The third person saw no panel: their 4 page clicks belong to no panel and do not count.
    assert totals == VariantTotals(
        units=3, panels=9, clicks=3, page_clicks=5, orders=1, clicked_units=2, ordering_units=1,
        panels_sq=9 + 1 + 25, clicks_sq=1 + 4, panels_clicks=3 + 10, orders_sq=1, panels_orders=3,
        page_clicks_sq=4 + 1 + 4, page_clicks_clicks=2 + 4)


def test_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError):
        VariantTotals.from_units(PANELS, CLICKS[:3], ORDERS, PAGE_CLICKS)
    with pytest.raises(ValueError):
        VariantTotals().with_off_policy(PANELS, CLICKS[:3], ORDERS, 0, 0)


def test_off_policy_sums_are_summed_over_people_with_a_logged_panel():
    # The first three people had 2, 0 and 1 panels served at random; their weighted clicks and orders.
    totals = VariantTotals.from_units(PANELS, CLICKS, ORDERS, PAGE_CLICKS).with_off_policy(
        np.array([2, 0, 1, 0]), np.array([10.0, 0.0, 2.5, 0.0]), np.array([10.0, 0.0, 0.0, 0.0]),
        weighted_shown=41.0, shadow_shown=9)
    assert (totals.units, totals.panels) == (3, 9)  # the on-policy counts are untouched
    assert (totals.logged_units, totals.logged_panels, totals.weighted_clicks, totals.weighted_orders,
            totals.weighted_shown, totals.shadow_shown) == (2, 3, 12.5, 10.0, 41.0, 9)
    assert (totals.logged_panels_sq, totals.weighted_clicks_sq, totals.logged_panels_weighted_clicks,
            totals.weighted_orders_sq, totals.logged_panels_weighted_orders) == (5, 106.25, 22.5, 100.0, 20.0)
    assert VariantTotals.from_dict(json.loads(json.dumps(totals.to_dict()))) == totals


def test_totals_go_through_json_unchanged():
    totals = VariantTotals.from_units(PANELS, CLICKS, ORDERS, PAGE_CLICKS)
    stored = json.loads(json.dumps(totals.to_dict()))
    assert VariantTotals.from_dict(stored) == totals
    assert all(type(value) is int for value in stored.values())


def test_a_stored_document_with_unknown_and_missing_keys_still_loads():
    # An older document (no page-click sums) with the database's own id beside the sums,
    # and a $sum that came back as a double.
    totals = VariantTotals.from_dict({"_id": "B", "units": 10.0, "panels": 25, "clicks": 4, "page_clicks": None})
    assert totals == VariantTotals(units=10, panels=25, clicks=4)
    assert type(totals.units) is int and totals.page_clicks_sq == 0
