"""Services like one service: POST /recommendations with a context service (or a service's page)
and GET /services/<id>/similar, on a served marketplace (real SecantusDB and Redis)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from jsonschema import Draft4Validator

from app.dump_contract import service_slug
from app.marketplace.events import store_events
from app.model_registry import active_version
from app.pipelines.interaction_models import fit_interaction_models
from app.recommendation_log import flush_served
from tests.api.test_experiments import start
from tests.api.test_recommendations import ANONYMOUS
from tests.fixtures.journeys import wire_time
from tests.recommendations.serving_fixtures import NOW, serve_marketplace


@pytest.fixture
def marketplace(app, db):
    dump = serve_marketplace(app)
    dump["recommendable"] = {s["id"]: s for s in dump["services"] if s["status"] in ("published", "unverified")}
    return dump


def ask(client, **changes):
    request = {**{k: v for k, v in ANONYMOUS.items() if k != "engine_version"}, "unique_id": str(uuid.uuid4())}
    return client.post("/recommendations", json={**request, **changes})


def similar(client, service_id, query=""):
    return client.get(f"/services/{service_id}/similar{query}")


def matches_the_documented_model(client, body, model):
    definitions = client.get("/swagger.json").get_json()["definitions"]
    Draft4Validator({"$ref": f"#/definitions/{model}", "definitions": definitions}).validate(body)


def unvisited(app, dump) -> dict:
    """A recommendable service nobody visited or took, with categories and a name of its own."""
    with app.app_context():
        visited = set(app.extensions["serving_state"].current().engines["Session"].model.service_ids.tolist())
    names = [s["name"] for s in dump["recommendable"].values()]
    return next(s for s in dump["recommendable"].values()
                if s["id"] not in visited and s["categories"] and names.count(s["name"]) == 1)


def ordered_together(app, first: int, second: int, visitors: int = 30) -> None:
    """Many visitors order `first` then `second`; the interaction models are refitted and served."""
    events = []
    for visitor in range(visitors):
        unique_id, at = str(uuid.uuid4()), NOW - timedelta(days=1, minutes=visitor)
        events += [{"unique_id": unique_id, "service_id": first, "type": "order", "timestamp": wire_time(at)},
                   {"unique_id": unique_id, "service_id": second, "type": "order",
                    "timestamp": wire_time(at + timedelta(minutes=5))}]
    with app.app_context():
        store_events(events)
        fit_interaction_models()
        app.extensions["serving_state"].rebuild_now()


def apart(dump) -> tuple[int, int]:
    """Two recommendable services with no category, scientific domain or provider in common."""
    services = list(dump["recommendable"].values())
    for a in services:
        for b in services:
            if a["id"] != b["id"] and all(not set(a[f]) & set(b[f]) for f in
                                          ("categories", "scientific_domains", "providers")) \
                    and a["resource_organisation"] != b["resource_organisation"]:
                return a["id"], b["id"]
    raise AssertionError("no two unrelated services")


# --- GET /services/<id>/similar -----------------------------------------------------------------

def test_similar_services_are_listed_with_scores_and_reasons(client, marketplace):
    service_id = sorted(marketplace["recommendable"])[0]
    response = similar(client, service_id, "?k=7")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    matches_the_documented_model(client, body, "SimilarServices")
    ids = [item["service_id"] for item in body["similar"]]
    assert body["service_id"] == service_id and len(ids) == 7 == len(set(ids))
    assert service_id not in ids and set(ids) <= set(marketplace["recommendable"])
    scores = [item["score"] for item in body["similar"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    assert all(item["explanation"] and item["explanation_short"] for item in body["similar"])
    with client.application.app_context():
        assert body["model_version"] == str(active_version("Session").id)
    assert len(similar(client, service_id).get_json()["similar"]) == 10  # k's default


def test_a_service_nobody_visited_gets_services_of_its_category_first(app, client, marketplace):
    service = unvisited(app, marketplace)
    body = similar(client, service["id"], "?k=3").get_json()
    first = marketplace["recommendable"][body["similar"][0]["service_id"]]
    assert set(first["categories"]) & set(service["categories"])
    assert body["similar"][0]["explanation_short"].startswith("Same category: categories ")


def test_services_often_ordered_together_come_before_look_alikes(app, client, marketplace):
    first, second = apart(marketplace)
    before = [item["service_id"] for item in similar(client, first, "?k=5").get_json()["similar"]]
    assert second not in before  # nothing in common: no reason to show it
    ordered_together(app, first, second)
    top = similar(client, first, "?k=5").get_json()["similar"][0]
    name = marketplace["recommendable"][first]["name"]
    assert top["service_id"] == second
    assert top["explanation_short"] == f"Users also ordered {name}"


@pytest.mark.parametrize("service_id", [999999, 2**70])
def test_an_unknown_service_is_404(client, marketplace, service_id):
    response = similar(client, service_id)
    assert response.status_code == 404
    assert response.get_json()["errors"] == {"service_id": "unknown service"}
    assert str(service_id) in response.get_json()["message"]


def test_a_service_that_may_not_be_recommended_is_404(client, marketplace):
    draft = next(s for s in marketplace["services"] if s["status"] not in ("published", "unverified"))
    assert similar(client, draft["id"]).status_code == 404


@pytest.mark.parametrize("query", ["?k=0", "?k=101", "?k=ten", "?k="])
def test_a_bad_k_is_400_naming_k(client, marketplace, query):
    response = similar(client, sorted(marketplace["recommendable"])[0], query)
    assert response.status_code == 400, response.get_json()
    assert "k" in response.get_json()["errors"]


def test_before_any_dump_it_is_503(app, client, db):
    app.extensions["serving_state"].rebuild_now()
    response = similar(client, 1)
    assert response.status_code == 503
    assert "snapshot" in response.get_json()["errors"]


# --- POST /recommendations on a service's page ----------------------------------------------------

def test_a_context_service_gets_a_panel_of_similar_services_without_itself(client, marketplace):
    service_id = sorted(marketplace["recommendable"])[3]
    response = ask(client, context_service_id=service_id, k=5)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    matches_the_documented_model(client, body, "RecommendationResponse")
    assert body["engine_version"] == "Similar" and body["context_service_id"] == service_id
    assert service_id not in body["recommendations"] and len(body["recommendations"]) == 5
    listed = [item["service_id"] for item in similar(client, service_id, "?k=5").get_json()["similar"]]
    assert body["recommendations"] == listed  # the same answer as the list alone


def test_a_page_of_a_known_service_is_its_context(app, client, marketplace):
    service = unvisited(app, marketplace)
    body = ask(client, page_id=f"/services/{service_slug(service['name'])}").get_json()
    assert body["context_service_id"] == service["id"] and body["engine_version"] == "Similar"
    assert service["id"] not in body["recommendations"]


@pytest.mark.parametrize("page_id", ["/services/no-such-service", "/services", "/services/", "/projects"])
def test_any_other_page_gets_ordinary_recommendations(client, marketplace, page_id):
    check_ordinary_panel(ask(client, page_id=page_id))


@pytest.mark.parametrize("value", [999999, 2**63 - 1])
def test_a_context_service_the_catalogue_lacks_gets_ordinary_recommendations(client, marketplace, value):
    # A service added after the last dump has a page before the next dump brings it: its panel
    # still shows, and the answer says that no context service was used.
    check_ordinary_panel(ask(client, context_service_id=value))


def check_ordinary_panel(response) -> None:
    """A panel of three without a context service, not answered by Similar."""
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["context_service_id"] is None and body["engine_version"] != "Similar"
    assert len(body["recommendations"]) == 3


@pytest.mark.parametrize("value", [-1, "12", {"$gt": 0}, 2**64])
def test_a_context_service_id_of_the_wrong_type_is_400_naming_the_field(client, db, value):
    response = ask(client, context_service_id=value)
    assert response.status_code == 400
    assert "context_service_id" in response.get_json()["errors"]


def test_an_engine_named_with_a_context_service_answers_without_the_service(client, marketplace):
    service_id = sorted(marketplace["recommendable"])[0]
    body = ask(client, context_service_id=service_id, engine_version="Popularity", k=20).get_json()
    assert body["engine_version"] == "Popularity" and service_id not in body["recommendations"]


def test_a_short_similar_panel_is_topped_up_by_the_chain(client, marketplace):
    service_id = sorted(marketplace["recommendable"])[0]
    body = ask(client, context_service_id=service_id, k=100).get_json()
    assert body["served_by"][0] == "Similar" and len(body["recommendations"]) == 100
    assert service_id not in body["recommendations"]


def test_a_panel_on_a_service_page_is_logged_with_its_context(client, marketplace, db):
    service_id = sorted(marketplace["recommendable"])[1]
    body = ask(client, context_service_id=service_id).get_json()
    assert flush_served(5.0)
    logged = db["recommendations"].find_one({"_id": body["recommendation_id"]})
    assert logged["request"]["context_service_id"] == service_id
    assert logged["engine"] == "Similar" and logged["service_ids"] == body["recommendations"]
    assert logged["model_version"] == body["model_version"] is not None


def test_a_panel_on_a_service_page_bypasses_experiments(client, marketplace, db):
    experiment = start(client, {
        "name": "everywhere", "scope": {"page_id": None, "panel_id": None},
        "variants": [{"name": "popular", "engine": "Popularity", "share": 0.5, "control": True},
                     {"name": "random", "engine": "Random", "share": 0.5}]})
    service_id = sorted(marketplace["recommendable"])[1]
    body = ask(client, context_service_id=service_id).get_json()
    assert body["engine_version"] == "Similar" and body["experiment"] is None
    assert flush_served(5.0)
    logged = db["recommendations"].find_one({"_id": body["recommendation_id"]})
    assert logged["experiment_bypassed"] == experiment["id"]
    assert ask(client).get_json()["experiment"] == experiment["id"]  # other pages stay in it
