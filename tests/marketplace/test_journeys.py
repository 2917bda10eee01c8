"""Journey trees rebuilt from stored user actions."""
from datetime import timedelta

import pytest

from app.marketplace.journeys import count_nodes, journey_service, journey_tree
from tests.fixtures.journeys import (
    START,
    journey_panel_visit,
    make_action,
    make_journey,
    new_visit,
)


@pytest.fixture
def post(client, db):
    def post(actions: list[dict]) -> None:
        response = client.post("/user_actions", json=actions)
        assert response.status_code == 204, response.get_json()

    return post


def chain(tree: dict) -> list[str]:
    """The target pages of a journey that never branches, from the panel click down."""
    [node] = tree["branches"]
    pages = []
    while node:
        pages.append(node["action"]["target"]["page_id"])
        node = node["children"][0] if node["children"] else None
    return pages


def test_a_six_action_journey_comes_back_as_one_tree(app, post):
    journey = make_journey(service_id=42, slug="b2share")
    noise = make_journey(service_id=7)  # another visitor's journey
    post(noise[3:] + journey[::-1] + noise[:3])  # arrival order must not matter
    with app.app_context():
        tree = journey_tree(journey_panel_visit(journey))
    assert tree["visit_id"] == journey_panel_visit(journey)
    assert count_nodes(tree) == 6
    assert chain(tree) == [action["target"]["page_id"] for action in journey]
    root = tree["branches"][0]["action"]
    assert root["source"]["root"]["resource_id"] == 42 and root["service_id"] == 42
    leaf = tree["branches"][0]
    while leaf["children"]:
        leaf = leaf["children"][0]
    assert leaf["action"]["action"]["order"] is True
    assert leaf["action"]["id"] and "_id" not in leaf["action"]


def test_several_clicks_in_one_panel_are_one_branch_each_in_time_order(app, post):
    panel = new_visit()
    second = make_journey(panel_visit=panel, service_id=2, start=START + timedelta(minutes=5), order=False)
    first = make_journey(panel_visit=panel, service_id=1, unique_id=second[0]["unique_id"])
    post(second + first)
    with app.app_context():
        tree = journey_tree(panel)
    assert [branch["action"]["service_id"] for branch in tree["branches"]] == [1, 2]
    assert count_nodes(tree) == 11


def test_a_branching_journey_keeps_siblings_in_time_order(app, post):
    journey = make_journey(order=False)
    service_visit = journey[0]["target"]["visit_id"]
    later = make_action(source_visit=service_visit, source_page="/services/x", target_page="/services/x/reviews",
                        at=START + timedelta(hours=1), unique_id=journey[0]["unique_id"])
    post(journey + [later])
    with app.app_context():
        [branch] = journey_tree(journey_panel_visit(journey))["branches"]
    assert [child["action"]["target"]["page_id"] for child in branch["children"]] == [
        journey[1]["target"]["page_id"], "/services/x/reviews"]


def test_a_cycle_in_the_data_ends_the_walk(app, post):
    journey = make_journey(order=False)
    # An action that leads back to the visit the panel click opened (a client bug).
    back = make_action(source_visit=journey[-1]["target"]["visit_id"], source_page="/x", target_page="/y",
                       target_visit=journey[0]["target"]["visit_id"], at=START + timedelta(hours=1),
                       unique_id=journey[0]["unique_id"])
    post(journey + [back])
    with app.app_context():
        assert count_nodes(journey_tree(journey_panel_visit(journey))) == 6


def test_a_visit_without_panel_clicks_has_no_branches(app, post):
    journey = make_journey()
    post(journey)
    with app.app_context():
        assert journey_tree(journey[1]["source"]["visit_id"])["branches"] == []  # a follow-up's visit
        assert journey_tree(new_visit())["branches"] == []


def test_an_order_is_traced_back_to_the_service_its_journey_is_about(app, post):
    journey = make_journey(service_id=99)
    post(journey)
    with app.app_context():
        assert journey_service(journey[-1]["source"]["visit_id"]) == 99
        assert journey_service(new_visit()) is None
        assert journey_service(None) is None
