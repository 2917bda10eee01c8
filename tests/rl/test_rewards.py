"""Rewards from journeys: page types, transition symbols and panel rewards come from the JSON table."""
from __future__ import annotations

import json

import pytest

from app.rl.rewards import (
    DEFAULT_TABLE_PATH,
    group_by_clicked_service,
    journey_reward,
    load_reward_table,
    page_type,
    panel_reward,
    transition_symbol,
)
from tests.fixtures.journeys import make_journey

TABLE = load_reward_table()


def as_branch(journey: list[dict]) -> dict:
    """A linear wire-format journey as the tree `journey_tree` returns for it."""
    nodes = [{"action": action, "children": []} for action in journey]
    for parent, child in zip(nodes, nodes[1:]):
        parent["children"].append(child)
    return nodes[0]


@pytest.mark.parametrize(("page_id", "expected"), [
    ("/services", "services_list"), ("/services/egi-cloud", "service"), ("/services/egi-cloud/offers", "offers"),
    ("/services/egi-cloud/details?tab=1", "details"), ("/services/x/opinions", "opinions"),
    ("/comparisons", "comparisons"), ("/projects/1", "unknown"), (None, "unknown"),
])
def test_page_types(page_id, expected):
    assert page_type(page_id, TABLE) == expected


def test_transition_symbols():
    assert transition_symbol("summary", "unknown", True, TABLE) == "order"
    assert transition_symbol("service", "offers", False, TABLE) == "interest"
    assert transition_symbol("service", "details", False, TABLE) == "mild_interest"
    assert transition_symbol("services_list", "service", False, TABLE) == "simple_transition"
    assert transition_symbol("service", "unknown", False, TABLE) == "unknown"


def test_a_journey_ending_in_an_order_from_a_panel_click_earns_one():
    branch = as_branch(make_journey(service_id=1234, order=True))
    assert journey_reward(branch, TABLE) == 1.0
    per_item, combined = panel_reward([1234, 55, 66], group_by_clicked_service([branch]), TABLE)
    assert per_item == [1.0, 0.0, 0.0]
    assert combined == pytest.approx((1 / 3) ** 0.5)  # root-mean-square of (1, 0, 0)


def test_a_journey_without_order_earns_the_best_symbol_on_the_way():
    branch = as_branch(make_journey(service_id=7, order=False))  # reaches offers, configuration, summary
    assert journey_reward(branch, TABLE) == 0.7


def test_a_just_clicked_service_earns_nothing():
    branch = as_branch(make_journey(service_id=7, order=False)[:1])
    assert panel_reward([7, 8], group_by_clicked_service([branch]), TABLE) == ([0.0, 0.0], 0.0)


def test_another_table_file_changes_the_reward_without_code(tmp_path):
    data = json.loads(DEFAULT_TABLE_PATH.read_text())
    data["symbol_values"]["order"] = 0.5
    data["combine"] = "mean"
    path = tmp_path / "table.json"
    path.write_text(json.dumps(data))
    table = load_reward_table(path)
    branch = as_branch(make_journey(service_id=1234, order=True))
    assert journey_reward(branch, table) == 0.7  # interest on the way now beats the devalued order
    assert panel_reward([1234, 5], group_by_clicked_service([branch]), table) == ([0.7, 0.0], 0.35)
