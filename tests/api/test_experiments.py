"""POST/GET /experiments and experiments in POST /recommendations: the split, stickiness,
bypass, shadows, pinned versions; every refusal names its field."""
from __future__ import annotations

import uuid

import pytest

from app import create_app
from app.model_registry import active_version
from app.pipelines.interaction_models import fit_interaction_models
from app.recommendation_log import flush_served
from tests.api.test_recommendations import ANONYMOUS
from tests.recommendations.serving_fixtures import serve_marketplace

TWO_ARMS = {
    "name": "Popularity against Random",
    "scope": {"page_id": "/services", "panel_id": "v1"},
    "variants": [
        {"name": "popular", "engine": "Popularity", "share": 0.5, "control": True},
        {"name": "random", "engine": "Random", "share": 0.5},
    ],
}


@pytest.fixture
def marketplace(app, db):
    return serve_marketplace(app)


def start(client, body=TWO_ARMS):
    response = client.post("/experiments", json=body)
    assert response.status_code == 201, response.get_json()
    client.application.extensions["serving_state"].rebuild_now()
    return response.get_json()


def ask(client, unique_id=None, **changes):
    request = {k: v for k, v in ANONYMOUS.items() if k != "engine_version"}
    request["unique_id"] = unique_id or str(uuid.uuid4())
    response = client.post("/recommendations", json={**request, **changes})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def with_variants(*variants, **changes) -> dict:
    return {**TWO_ARMS, "variants": list(variants), **changes}


def test_an_experiment_is_created_listed_and_stopped(client, db):
    created = start(client)
    assert created["status"] == "running" and created["results"] is None
    assert [v["name"] for v in created["variants"]] == ["popular", "random"]
    assert created["variants"][0] == {"name": "popular", "engine": "Popularity", "model_version": None,
                                      "share": 0.5, "control": True, "shadow": False}
    assert client.get(f"/experiments/{created['id']}").get_json()["name"] == TWO_ARMS["name"]
    assert [e["id"] for e in client.get("/experiments?status=running").get_json()] == [created["id"]]
    stopped = client.post(f"/experiments/{created['id']}/stop").get_json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    assert client.get("/experiments?status=running").get_json() == []
    again = client.post(f"/experiments/{created['id']}/stop")
    assert again.status_code == 200 and again.get_json()["stopped_at"] == stopped["stopped_at"]


@pytest.mark.parametrize("body, field", [
    ({**TWO_ARMS, "name": ""}, "name"),
    ({k: v for k, v in TWO_ARMS.items() if k != "variants"}, "variants"),
    (with_variants(TWO_ARMS["variants"][0]), "variants"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "b", "engine": "Random", "share": 0.4}), "variants"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "b", "engine": "Random", "share": 0.5, "control": True}), "variants"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5},
                   {"name": "b", "engine": "Random", "share": 0.5}), "variants"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "a", "engine": "Random", "share": 0.5}), "variants.1.name"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 1, "control": True},
                   {"name": "b", "engine": "Random", "share": 0.5, "shadow": True}), "variants.1.share"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 1.5, "control": True},
                   {"name": "b", "engine": "Random", "share": -0.5}), "variants.0.share"),
    (with_variants({"name": "a", "engine": "NCFRanking", "share": 0.5, "control": True},
                   {"name": "b", "engine": "Random", "share": 0.5}), "variants.0.engine"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "b", "engine": "Similar", "share": 0.5}), "variants.1.engine"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "b", "engine": "Random", "share": 0.5, "model_version": "0" * 24}),
     "variants.1.model_version"),
    (with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "b", "engine": "NCF", "share": 0.5, "model_version": "not-an-id"}),
     "variants.1.model_version"),
    (with_variants({"name": "a.b", "engine": "Popularity", "share": 0.5, "control": True},
                   {"name": "b", "engine": "Random", "share": 0.5}), "variants.0.name"),
    ({**TWO_ARMS, "scope": {"panel_id": "v3"}}, "scope.panel_id"),
    ({**TWO_ARMS, "scope": {"page_id": {"$ne": None}}}, "scope.page_id"),
])
def test_an_invalid_experiment_is_400_naming_the_field(client, db, body, field):
    response = client.post("/experiments", json=body)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"], response.get_json()
    assert client.get("/experiments").get_json() == []  # nothing half-written


def test_a_pinned_version_of_another_engine_is_refused(client, marketplace, app):
    with app.app_context():
        popularity = str(active_version("Popularity").id)
    body = with_variants({"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                         {"name": "b", "engine": "Session", "share": 0.5, "model_version": popularity})
    response = client.post("/experiments", json=body)
    assert response.status_code == 400
    assert "is a Popularity version" in response.get_json()["errors"]["variants.1.model_version"]


@pytest.mark.parametrize("scope, overlapping", [
    ({"page_id": "/services", "panel_id": "v1"}, True),
    ({"page_id": "/services"}, True),
    ({}, True),
    ({"panel_id": "v1"}, True),
    ({"page_id": "/services", "panel_id": "v2"}, False),
    ({"page_id": "/other"}, False),
])
def test_at_most_one_running_experiment_takes_a_request(client, db, scope, overlapping):
    first = start(client)
    response = client.post("/experiments", json={**TWO_ARMS, "scope": scope})
    if overlapping:
        assert response.status_code == 409
        assert first["id"] in response.get_json()["errors"]["scope"]
        client.post(f"/experiments/{first['id']}/stop")
        assert client.post("/experiments", json={**TWO_ARMS, "scope": scope}).status_code == 201
    else:
        assert response.status_code == 201


@pytest.mark.parametrize("path", ["/experiments/0123456789abcdef01234567", "/experiments/nope"])
def test_an_unknown_experiment_is_404(client, db, path):
    assert client.get(path).status_code == 404
    response = client.post(f"{path}/stop")
    assert response.status_code == 404
    assert response.get_json()["errors"] == {"experiment_id": "unknown experiment"}


def test_experiment_writes_need_the_write_token(settings, app, db):
    secured = create_app(settings | {"API_TOKENS": ["write-token"]}).test_client()
    assert secured.post("/experiments", json=TWO_ARMS).status_code == 401
    assert secured.get("/experiments").status_code == 200
    created = secured.post("/experiments", json=TWO_ARMS, headers={"Authorization": "Bearer write-token"})
    assert created.status_code == 201
    assert secured.post(f"/experiments/{created.get_json()['id']}/stop").status_code == 401


def test_traffic_splits_in_its_shares_and_each_person_keeps_a_variant(client, marketplace, db):
    experiment = start(client, {**TWO_ARMS, "variants": [
        {"name": "popular", "engine": "Popularity", "share": 0.7, "control": True},
        {"name": "random", "engine": "Random", "share": 0.3}]})
    visitors = [str(uuid.uuid4()) for _ in range(1000)]
    seen = {visitor: ask(client, visitor) for visitor in visitors}
    randoms = sum(body["variant"] == "random" for body in seen.values())
    assert abs(randoms - 300) < 4 * (1000 * 0.3 * 0.7) ** 0.5  # within 4 standard deviations
    for visitor in visitors[:50]:
        again = ask(client, visitor)
        assert again["variant"] == seen[visitor]["variant"]
    for body in seen.values():
        assert body["experiment"] == experiment["id"]
        assert body["engine_version"] == {"popular": "Popularity", "random": "Random"}[body["variant"]]
    flush_served()
    logged = db["recommendations"].find_one({"_id": seen[visitors[0]]["recommendation_id"]})
    assert (logged["experiment"], logged["variant"], logged["unit"]) == (
        experiment["id"], seen[visitors[0]]["variant"], f"visitor:{visitors[0]}")


def test_a_logged_in_user_is_assigned_by_user_id(client, marketplace, db):
    start(client)
    user = marketplace["users"][0]
    answers = {ask(client, user_id=user["id"])["variant"] for _ in range(5)}  # a new unique_id each time
    assert len(answers) == 1
    flush_served()
    assert db["recommendations"].find_one({"user_id": user["id"]})["unit"] == f"user:{user['id']}"


def test_a_named_engine_or_another_scope_bypasses_the_experiment(client, marketplace, db):
    experiment = start(client)
    named = ask(client, engine_version="Random")
    assert named["experiment"] is None and named["variant"] is None and named["engine_version"] == "Random"
    elsewhere = ask(client, page_id="/projects")
    assert elsewhere["experiment"] is None
    flush_served()
    logged = db["recommendations"].find_one({"_id": named["recommendation_id"]})
    assert logged["experiment_bypassed"] == experiment["id"] and "variant" not in logged
    assert "experiment" not in db["recommendations"].find_one({"_id": elsewhere["recommendation_id"]})


def test_a_stopped_experiment_serves_no_more(client, marketplace):
    experiment = start(client)
    client.post(f"/experiments/{experiment['id']}/stop")
    client.application.extensions["serving_state"].rebuild_now()
    assert ask(client)["experiment"] is None


def test_a_shadow_is_logged_beside_the_shown_panel_and_never_shown(client, marketplace, db):
    experiment = start(client, {**TWO_ARMS, "variants": [
        *TWO_ARMS["variants"], {"name": "session", "engine": "Session", "shadow": True}]})
    # Session answers a visitor with events: give each one a session.
    events = [{"service_id": sorted(s["id"] for s in marketplace["services"] if s["status"] == "published")[0],
               "type": "view", "timestamp": "2021-03-18T18:40:00Z"}]
    bodies = [ask(client, session=events) for _ in range(20)]
    assert {b["variant"] for b in bodies} <= {"popular", "random"}
    flush_served()
    shadows = list(db["shadow_recommendations"].find({"experiment": experiment["id"]}))
    assert {s["recommendation_id"] for s in shadows} == {b["recommendation_id"] for b in bodies}
    assert {(s["variant"], s["engine"]) for s in shadows} == {("session", "Session")}
    assert all(len(s["service_ids"]) == 3 for s in shadows)
    assert db["recommendations"].count_documents({"engine": "Session"}) == 0  # computed, not shown


def test_a_variant_serves_its_pinned_model_version(client, marketplace, app):
    with app.app_context():
        old = str(active_version("Popularity").id)
        fit_interaction_models()  # a newer Popularity version becomes active
        new = str(active_version("Popularity").id)
    assert old != new
    start(client, {**TWO_ARMS, "variants": [
        {"name": "current", "engine": "Popularity", "share": 0.5, "control": True},
        {"name": "previous", "engine": "Popularity", "share": 0.5, "model_version": old}]})
    versions = {}
    for _ in range(40):
        body = ask(client)
        versions.setdefault(body["variant"], set()).add(body["model_version"])
    assert versions == {"current": {new}, "previous": {old}}
