"""POST /recommendations with `diversity`, `max_per_provider` and `rotation`: absent or 0
keeps today's answers; each changes the panel as documented; bad values are 400s naming
the field."""
import uuid

import pytest

from app.recommendation_log import flush_served
from tests.fixtures.journeys import new_visit
from tests.recommendations.serving_fixtures import serve_marketplace

PANEL = {"timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "panel_id": "v1",
         "client_id": "marketplace", "search_data": {}, "engine_version": "Popularity"}


@pytest.fixture
def marketplace(app, db):
    dump = serve_marketplace(app)
    return {"categories": {s["id"]: set(s["categories"]) for s in dump["services"]},
            "providers": {s["id"]: set(s["providers"]) for s in dump["services"]}, "dump": dump}


def ask(client, unique_id: str | None = None, **changes) -> dict:
    response = client.post("/recommendations", json={**PANEL, "unique_id": unique_id or str(uuid.uuid4()),
                                                     "visit_id": new_visit(), **changes})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def categories_in(body: dict, marketplace: dict) -> int:
    return len(set().union(*(marketplace["categories"][s] for s in body["recommendations"])))


def test_absent_null_or_zero_keeps_todays_answer(client, marketplace):
    visitor = str(uuid.uuid4())
    today = ask(client, visitor, k=10)
    for same in ({"diversity": 0, "rotation": 0}, {"diversity": None, "max_per_provider": None, "rotation": None}):
        body = ask(client, visitor, k=10, **same)
        assert (body["recommendations"], body["scores"]) == (today["recommendations"], today["scores"])


def test_diversity_spans_more_categories(client, marketplace):
    plain = ask(client, k=6)
    varied = ask(client, k=6, diversity=1)
    assert categories_in(varied, marketplace) > categories_in(plain, marketplace)
    assert varied["recommendations"][0] == plain["recommendations"][0]  # the best still leads
    assert len(varied["recommendations"]) == 6 and len(set(varied["recommendations"])) == 6


def test_max_per_provider_caps_each_provider(client, marketplace):
    body = ask(client, k=6, max_per_provider=1)
    providers = [p for s in body["recommendations"] for p in marketplace["providers"][s]]
    assert body["recommendations"] and len(providers) == len(set(providers))
    plain = [p for s in ask(client, k=6)["recommendations"] for p in marketplace["providers"][s]]
    assert len(plain) > len(set(plain))  # without the cap, a provider has several


def test_rotation_shows_a_returning_visitor_new_services(client, marketplace, db):
    def distinct_over_visits(rotation: float) -> int:
        visitor, seen = str(uuid.uuid4()), set()
        for _ in range(6):
            seen.update(ask(client, visitor, rotation=rotation)["recommendations"])
            flush_served()  # the served log is written in the background: the next request reads it
        return len(seen)

    assert distinct_over_visits(0) == 3
    assert distinct_over_visits(1) >= 9


def test_rotation_leaves_a_clicked_service_in_place(client, marketplace, db):
    visitor = str(uuid.uuid4())
    first = ask(client, visitor, rotation=1)["recommendations"]
    flush_served()
    ask(client, visitor, rotation=1)
    flush_served()
    clicked = first[0]
    session = [{"service_id": clicked, "type": "click", "timestamp": "2999-01-01T00:00:00Z"}]
    # Shown twice (once beyond the free showing), but clicked after: it keeps its place.
    assert ask(client, visitor, rotation=1, session=session)["recommendations"][0] == clicked
    assert clicked not in ask(client, visitor, rotation=1)["recommendations"]  # without the click it moves down


def test_a_random_panel_shaped_logs_no_chances(client, marketplace, db):
    body = ask(client, engine_version="Random", diversity=0.5)
    flush_served()
    logged = db["recommendations"].find_one({"_id": body["recommendation_id"]})
    assert logged["service_ids"] == body["recommendations"] and "probabilities" not in logged
    plain = ask(client, engine_version="Random")
    flush_served()
    assert min(db["recommendations"].find_one({"_id": plain["recommendation_id"]})["probabilities"]) < 1


@pytest.mark.parametrize("changes, field", [
    ({"diversity": 1.5}, "diversity"),
    ({"diversity": -0.1}, "diversity"),
    ({"diversity": "high"}, "diversity"),
    ({"rotation": 2}, "rotation"),
    ({"rotation": [0.5]}, "rotation"),
    ({"max_per_provider": 0}, "max_per_provider"),
    ({"max_per_provider": 101}, "max_per_provider"),
    ({"max_per_provider": 1.5}, "max_per_provider"),
    ({"engine_version": "RandomRanking", "diversity": 0.5}, "diversity"),
    ({"engine_version": "NCFRanking", "max_per_provider": 2}, "max_per_provider"),
])
def test_bad_values_are_400_naming_the_field(client, marketplace, changes, field):
    response = client.post("/recommendations", json={**PANEL, "unique_id": str(uuid.uuid4()), "visit_id": None,
                                                     **changes})
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
