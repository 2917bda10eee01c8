"""The synthetic marketplace: deterministic, well-formed, and driven by interests."""
from __future__ import annotations

import re
from datetime import UTC

import numpy as np
import pytest

from app.dump_contract import DUMP_KEYS, RECOMMENDABLE_STATUSES
from app.sample_data.synthetic import (
    generate_marketplace,
    iso_timestamp,
    service_page_id,
)

SUBPAGE = re.compile(r"^/services/(\d+)-[a-z0-9-]+(/(details|offers|opinions|information|configuration|summary|"
                     r"comparisons))?$")


@pytest.fixture(scope="module")
def market():
    return generate_marketplace(services=60, users=40, projects=15, journeys=400, seed=7)


def test_same_seed_same_marketplace_other_seed_another(market):
    assert generate_marketplace(services=60, users=40, projects=15, journeys=400, seed=7) == market
    other = generate_marketplace(services=60, users=40, projects=15, journeys=400, seed=8)
    assert other.dump["services"] != market.dump["services"]
    assert other.user_actions != market.user_actions


def test_sizes_are_the_ones_asked_for(market):
    assert set(market.dump) == set(DUMP_KEYS)
    assert len(market.dump["services"]) == 60
    assert len(market.dump["users"]) == 40
    assert len(market.dump["projects"]) == 15
    panel_clicks = [a for a in market.user_actions if "root" in a["source"]]
    assert len(panel_clicks) == 400


def test_every_reference_points_at_an_item_of_the_dump(market):
    ids = {key: {item["id"] for item in items} for key, items in market.dump.items()}
    for service in market.dump["services"]:
        for key in ("categories", "scientific_domains", "providers", "platforms", "target_users", "trls",
                    "access_types", "access_modes", "life_cycle_statuses", "research_steps"):
            assert set(service[key]) <= ids[key], key
        assert set(service["related_services"]) <= ids["services"] - {service["id"]}
        assert service["resource_organisation"] in ids["providers"]
    for user in market.dump["users"]:
        assert set(user["categories"]) <= ids["categories"] and user["categories"]
        assert set(user["accessed_services"]) <= ids["services"]
    for project in market.dump["projects"]:
        assert project["user_id"] in ids["users"] and set(project["services"]) <= ids["services"]


def test_journeys_start_at_a_panel_and_follow_service_pages(market):
    services = {s["id"]: s for s in market.dump["services"]}
    by_target_visit = {a["target"]["visit_id"]: a for a in market.user_actions}
    timestamps = [a["timestamp"] for a in market.user_actions]
    assert timestamps == sorted(timestamps)
    for action in market.user_actions:
        root = action["source"].get("root")
        if root:
            assert action["source"]["page_id"] == "/services"
            assert root["type"] == "recommendation_panel" and root["panel_id"] in ("v1", "v2")
            assert services[root["resource_id"]]["status"] in RECOMMENDABLE_STATUSES
            service_name = services[root["resource_id"]]["name"]
            assert action["target"]["page_id"] == service_page_id(root["resource_id"], service_name)
        else:  # a follow-up: it leaves the page the previous action arrived at
            previous = by_target_visit[action["source"]["visit_id"]]
            assert previous["unique_id"] == action["unique_id"]
            assert previous["timestamp"] < action["timestamp"]
            assert SUBPAGE.match(action["source"]["page_id"])
        assert action["target"]["page_id"] == "/projects" or SUBPAGE.match(action["target"]["page_id"])
        assert action["action"]["order"] is (action["target"]["page_id"] == "/projects")
    panels = {a["source"]["root"]["panel_id"] for a in market.user_actions if "root" in a["source"]}
    assert panels == {"v1", "v2"}


def test_orders_are_the_users_accessed_services_in_time_order(market):
    orders: dict[int, list[int]] = {}
    journey_service = {}
    for action in market.user_actions:
        root = action["source"].get("root")
        if root:
            journey_service[action["target"]["visit_id"]] = root["resource_id"]
        else:
            journey_service[action["target"]["visit_id"]] = journey_service[action["source"]["visit_id"]]
        if action["action"]["order"]:
            assert "user_id" in action  # anonymous visitors browse but do not order
            taken = orders.setdefault(action["user_id"], [])
            service = journey_service[action["target"]["visit_id"]]
            if service not in taken:
                taken.append(service)
    assert orders, "some journeys end in an order"
    for user in market.dump["users"]:
        assert user["accessed_services"] == orders.get(user["id"], [])


def test_interests_drive_clicks(market):
    """Clicked services share more categories with the user than the catalogue does on average."""
    services = {s["id"]: set(s["categories"]) for s in market.dump["services"]}
    users = {u["id"]: set(u["categories"]) for u in market.dump["users"]}
    clicked, baseline = [], []
    for action in market.user_actions:
        root = action["source"].get("root")
        if root and "user_id" in action:
            interests = users[action["user_id"]]
            clicked.append(len(interests & services[root["resource_id"]]))
            baseline.append(np.mean([len(interests & cats) for cats in services.values()]))
    assert np.mean(clicked) > 1.5 * np.mean(baseline)


def test_ratings_are_events_about_ordered_services(market):
    accessed = {u["id"]: set(u["accessed_services"]) for u in market.dump["users"]}
    assert market.events
    for event in market.events:
        assert event["type"] == "rating" and 1 <= event["value"] <= 5
        assert event["service_id"] in accessed[event["user_id"]]


def test_small_and_empty_sizes_work():
    tiny = generate_marketplace(services=1, users=0, projects=0, journeys=3, seed=1)
    assert len(tiny.dump["services"]) == 1 and tiny.dump["users"] == []
    assert all("user_id" not in a for a in tiny.user_actions)
    assert generate_marketplace(services=0, users=0, projects=0, journeys=0).user_actions == []


def test_negative_sizes_are_refused():
    with pytest.raises(ValueError, match="journeys"):
        generate_marketplace(journeys=-1)


def test_iso_timestamps_have_milliseconds():
    from datetime import datetime

    assert iso_timestamp(datetime(2021, 3, 18, 19, 33, 21, 620000, tzinfo=UTC)) == "2021-03-18T19:33:21.620Z"


def test_the_api_schemas_accept_the_payloads_unchanged(market):
    from jsonschema import Draft4Validator, FormatChecker

    from app.cli.data import check_events, check_user_actions
    from app.wire.dump import DUMP

    schema = DUMP.json_schema()
    assert list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(market.dump)) == []
    assert check_user_actions(market.user_actions) == len(market.user_actions)
    assert check_events(market.events) == len(market.events)
