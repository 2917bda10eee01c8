"""POST /recommendations with the contract's EOSC-shaped requests."""
import uuid

import pytest

from app.recommendation_log import flush_served
from tests.fixtures.journeys import wire_time
from tests.recommendations.serving_fixtures import NOW, recommendable_by_category, serve_marketplace

ANONYMOUS = {
    "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "timestamp": "2021-03-18T18:49:55.006Z",
    "visit_id": "202090a4-de4c-4230-acba-6e2931d9e37c", "page_id": "/services", "panel_id": "v1",
    "client_id": "marketplace", "search_data": {"q": "", "categories": [], "rating": "", "sort": "_score"},
    "engine_version": "RL", "locale": "en",
}


@pytest.fixture
def marketplace(app, db):
    dump = serve_marketplace(app)
    dump["recommendable"] = {s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")}
    return dump


def post(client, **changes):
    return client.post("/recommendations", json={**ANONYMOUS, **changes})


def check_well_formed(body, dump, size):
    ids = body["recommendations"]
    assert len(ids) == size and len(set(ids)) == size
    assert set(ids) <= dump["recommendable"]
    assert len(body["scores"]) == len(body["explanations"]) == len(body["explanations_short"]) == size
    # Scores are comparable within one engine: a short panel may be topped up by the next one.
    primary = [score for score, source in zip(body["scores"], body["served_by"]) if source == body["engine_version"]]
    assert primary == sorted(primary, reverse=True)
    assert all(text for text in body["explanations"] + body["explanations_short"])


@pytest.mark.parametrize("panel, size", [("v1", 3), ("v2", 2), ("", 3), ("service", 3)])
def test_anonymous_panels_are_well_formed(client, marketplace, panel, size):
    response = post(client, panel_id=panel)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    check_well_formed(body, marketplace, size)
    assert body["panel_id"] == ("v2" if panel == "v2" else "v1")
    assert body["engine_version"] in ("Popularity", "Session")  # RL is not trained: the chain answered


def test_a_logged_in_user_with_candidates_gets_only_those(client, marketplace):
    user = marketplace["users"][0]
    candidates = sorted(marketplace["recommendable"] - set(user["accessed_services"]))[:10] + [999999]
    body = post(client, user_id=user["id"], aai_uid=user["aai_uid"], panel_id="v2",
                candidates=candidates, engine_version="NCF").get_json()
    check_well_formed(body, marketplace, 2)
    assert set(body["recommendations"]) <= set(candidates)


def test_services_already_ordered_and_excluded_are_never_returned(client, marketplace):
    user = next(u for u in marketplace["users"] if len(u["accessed_services"]) >= 2)
    excluded = sorted(marketplace["recommendable"])[:5]
    body = post(client, user_id=user["id"], k=20, exclude=excluded).get_json()
    assert not set(body["recommendations"]) & (set(excluded) | set(user["accessed_services"]))


def test_a_ranking_request_returns_every_eligible_candidate(client, marketplace):
    candidates = sorted(marketplace["recommendable"])[:12]
    body = post(client, candidates=candidates, engine_version="NCFRanking").get_json()
    assert sorted(body["recommendations"]) == candidates
    assert body["engine_version"] == "RandomRanking"  # NCF has no model yet; never a top-k answer


def test_too_few_eligible_candidates_gives_fewer_items(client, marketplace):
    only = sorted(marketplace["recommendable"])[:1]
    body = post(client, candidates=only + [999999]).get_json()
    assert body["recommendations"] == only


def test_search_filters_narrow_the_catalogue(client, marketplace):
    category, services = max(recommendable_by_category(marketplace).items(), key=lambda item: len(item[1]))
    body = post(client, k=5, search_data={"categories": [category]}).get_json()
    in_category = {s["id"] for s in marketplace["services"] if category in s["categories"]}
    assert body["recommendations"] and set(body["recommendations"]) <= in_category


def test_an_anonymous_visitor_gets_the_category_of_the_events_just_posted(client, marketplace):
    category, services = max(recommendable_by_category(marketplace).items(), key=lambda item: len(item[1]))
    visitor = str(uuid.uuid4())
    events = [{"unique_id": visitor, "service_id": s, "type": "view", "timestamp": wire_time(NOW)}
              for s in services[:3]]
    assert client.post("/events", json={"events": events}).status_code == 204
    body = post(client, unique_id=visitor, engine_version=None).get_json()
    in_category = {s["id"] for s in marketplace["services"] if category in s["categories"]}
    assert body["engine_version"] == "Session"
    assert set(body["recommendations"]) <= in_category, body


def test_the_request_session_changes_the_answer_at_once(client, marketplace):
    category, services = max(recommendable_by_category(marketplace).items(), key=lambda item: len(item[1]))
    session = [{"service_id": s, "type": "view", "timestamp": wire_time(NOW)} for s in services[:3]]
    body = post(client, unique_id=str(uuid.uuid4()), session=session).get_json()
    in_category = {s["id"] for s in marketplace["services"] if category in s["categories"]}
    assert body["engine_version"] == "Session" and set(body["recommendations"]) <= in_category


def test_every_served_recommendation_is_logged(client, marketplace, db):
    body = post(client).get_json()
    assert flush_served(5.0)
    logged = db["recommendations"].find_one({"_id": body["recommendation_id"]})
    assert logged["service_ids"] == body["recommendations"]
    assert logged["engine"] == body["engine_version"]
    assert logged["visit_id"] == ANONYMOUS["visit_id"]
    assert logged["probabilities"] == [1.0] * len(body["recommendations"])


@pytest.mark.parametrize("changes, field", [
    ({"panel_id": "v3"}, "panel_id"),
    ({"unique_id": "not-a-uuid"}, "unique_id"),
    ({"visit_id": "123"}, "visit_id"),
    ({"candidates": "x"}, "candidates"),
    ({"candidates": ["1"]}, "candidates.0"),
    ({"user_id": {"$gt": 0}}, "user_id"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"k": 0}, "k"),
    ({"search_data": None}, "search_data"),
    ({"session": [{"service_id": 1, "type": "view"}]}, "session.0.timestamp"),
    ({"objective": "bookmark"}, "objective"),
    ({"objective": 3}, "objective"),
])
def test_bad_requests_are_400_naming_the_field(client, db, changes, field):
    response = post(client, **changes)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()


def test_missing_required_fields_are_named(client, db):
    response = client.post("/recommendations", json={"page_id": "/services"})
    errors = response.get_json()["errors"]
    assert response.status_code == 400
    assert {"unique_id", "timestamp", "visit_id", "search_data"} <= set(errors)


def test_scores_for_given_pairs(client, marketplace):
    ids = sorted(marketplace["recommendable"])[:4]
    body = client.post("/scores", json={"unique_id": ANONYMOUS["unique_id"], "service_ids": ids}).get_json()
    assert [item["service_id"] for item in body["scores"]] == ids
    assert body["engine_version"] in ("Popularity", "Session", "Random")


def test_scores_need_service_ids(client, db):
    response = client.post("/scores", json={"unique_id": ANONYMOUS["unique_id"], "service_ids": []})
    assert response.status_code == 400 and "service_ids" in response.get_json()["errors"]


def test_scores_follow_the_objective(client, marketplace):
    ids = sorted(marketplace["recommendable"])[:20]
    asked = {"unique_id": ANONYMOUS["unique_id"], "service_ids": ids, "engine_version": "Popularity"}
    scores = {}
    for objective in ("click", "cart", "order"):
        response = client.post("/scores", json={**asked, "objective": objective})
        assert response.status_code == 200, response.get_json()
        scores[objective] = [item["score"] for item in response.get_json()["scores"]]
    # The fixture's users browse (views) and took services (orders): the two objectives count them apart.
    assert scores["click"] != scores["order"]
    assert client.post("/scores", json=asked).get_json()["scores"] == [
        {"service_id": s, "score": v} for s, v in zip(ids, scores["order"])]
    refused = client.post("/scores", json={**asked, "objective": "view"})
    assert refused.status_code == 400 and "objective" in refused.get_json()["errors"]


@pytest.mark.parametrize("engine", ["Random", "Popularity", "NCF"])
def test_every_answer_matches_the_documented_response(client, marketplace, engine):
    from jsonschema import Draft4Validator
    definitions = client.get("/swagger.json").get_json()["definitions"]
    body = post(client, engine_version=engine).get_json()
    assert (body["model_version"] is None) == (body["engine_version"] == "Random")  # Random has no model
    Draft4Validator({"$ref": "#/definitions/RecommendationResponse", "definitions": definitions}).validate(body)


def test_an_extra_field_holding_an_integer_beyond_64_bits_is_served_and_logged(client, marketplace, db):
    # NaN makes orjson refuse the body: Python's json, which keeps big integers, reads it.
    body = post(client, extra={"n": [2**70], "x": float("nan")}).get_json()
    assert len(body["recommendations"]) == 3
    assert flush_served()
    logged = db["recommendations"].find_one({"_id": body["recommendation_id"]})
    assert logged["request"]["extra"]["n"] == [str(2**70)]


def test_the_answer_says_what_it_was_chosen_for(client, marketplace):
    assert post(client).get_json()["objective"] == "order"  # panels always served the visitor's next order
    for objective in ("click", "cart", "order"):
        body = post(client, objective=objective, engine_version="Popularity").get_json()
        assert body["objective"] == objective and len(body["recommendations"]) == 3
