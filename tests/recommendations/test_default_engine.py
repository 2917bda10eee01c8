"""A request naming no engine is answered by the one that measured best on the active data
(or by the one an operator set); /health and /models say which and why."""
import pytest

from app import model_registry
from app.pipelines.ncf import run_ncf_pipeline
from app.storage.models import ModelVersion
from app.training.gate import best_engine
from tests.pipelines.test_ncf import SMALL
from tests.recommendations.serving_fixtures import serve_marketplace

REQUEST = {"unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None, "page_id": "/services",
           "timestamp": "2021-03-18T18:49:55.006Z", "search_data": {}}


@pytest.fixture
def trained(app, db):
    """A served marketplace with an active NCF version trained on its snapshot: (dump, version id)."""
    import torch

    torch.set_num_threads(1)
    dump = serve_marketplace(app)
    with app.app_context():
        outcome = run_ncf_pipeline(config=SMALL)
    assert outcome["status"] == "activated"
    return dump, outcome["model_id"]


def measured(app, version_id: str, **scores) -> dict:
    """Record these figures as what the version's training measured, and rebuild the serving state."""
    verdict = best_engine(scores)
    with app.app_context():
        ModelVersion.objects(id=version_id).update(set__metrics__default_engine=verdict)
    app.extensions["serving_state"].rebuild_now()
    return verdict


def ask_as_user(client, dump) -> dict:
    user = next(u for u in dump["users"] if u["accessed_services"])
    return client.post("/recommendations", json={**REQUEST, "user_id": user["id"]}).get_json()


def flagged(client) -> list[dict]:
    return [v for v in client.get("/models").get_json() if v["serves_by_default"]]


def test_popularity_answers_by_default_where_ncf_measured_below_it(app, client, trained):
    dump, ncf_id = trained
    verdict = measured(app, ncf_id, NCF=0.21, Popularity=0.43, Session=0.12)
    assert ask_as_user(client, dump)["engine_version"] == "Popularity"
    node = client.get("/health").get_json()["default_engine"]
    assert node["engine"] == "Popularity" and node["source"] == "measured" and node["model_id"] == ncf_id
    assert node["reason"] == verdict["reason"] and "NCF 0.210 does not beat Popularity 0.430" in node["reason"]
    with app.app_context():
        popularity_id = str(model_registry.active_version("Popularity").id)
    assert [(v["id"], v["default_reason"]) for v in flagged(client)] == [(popularity_id, verdict["reason"])]
    others = [v for v in client.get("/models").get_json() if not v["serves_by_default"]]
    assert others and all(v["default_reason"] is None for v in others)


def test_ncf_answers_by_default_where_it_beats_popularity_and_session(app, client, trained):
    dump, ncf_id = trained
    verdict = measured(app, ncf_id, NCF=0.61, Popularity=0.43, Session=0.52)
    body = ask_as_user(client, dump)
    assert body["engine_version"] == "NCF" and body["model_version"] == ncf_id
    node = client.get("/health").get_json()["default_engine"]
    assert node["engine"] == "NCF" and node["reason"] == verdict["reason"] and node["scores"]["Session"] == 0.52
    assert [v["id"] for v in flagged(client)] == [ncf_id]
    assert client.get(f"/models/{ncf_id}").get_json()["serves_by_default"] is True


def test_the_measurement_of_the_trained_version_is_what_decides(app, client, trained):
    dump, ncf_id = trained
    with app.app_context():
        verdict = model_registry.get_version(ncf_id).metrics["default_engine"]
    app.extensions["serving_state"].rebuild_now()
    assert client.get("/health").get_json()["default_engine"]["engine"] == verdict["engine"]
    if verdict["engine"] != "Session":  # Session answers only visitors with events; this user has none
        assert ask_as_user(client, dump)["engine_version"] == verdict["engine"]


def test_an_operators_setting_wins_over_the_measurement(app, client, trained, monkeypatch):
    dump, ncf_id = trained
    measured(app, ncf_id, NCF=0.61, Popularity=0.43, Session=0.52)
    monkeypatch.setitem(app.config, "DEFAULT_RECOMMENDATION_ENGINE", "Popularity")
    app.extensions["serving_state"].rebuild_now()
    assert ask_as_user(client, dump)["engine_version"] == "Popularity"
    node = client.get("/health").get_json()["default_engine"]
    assert node["source"] == "setting" and "DEFAULT_RECOMMENDATION_ENGINE" in node["reason"]


def test_without_a_snapshot_there_is_no_default_and_health_says_why(app, client, db):
    node = client.get("/health").get_json()["default_engine"]
    assert node == {"status": "UP", "engine": None, "source": "measured", "snapshot_id": None, "model_id": None,
                    "scores": None, "reason": "no dataset snapshot is active", "ncf_on_active_snapshot": False}
    assert client.get("/models").get_json() == []


def test_an_ncf_version_of_another_snapshot_answers_only_when_asked_by_name(app, client, trained):
    dump, ncf_id = trained
    measured(app, ncf_id, NCF=0.61, Popularity=0.43, Session=0.52)
    with app.app_context():
        ModelVersion.objects(id=ncf_id).update(set__dataset_id="an-older-snapshot")
    app.extensions["serving_state"].rebuild_now()
    node = client.get("/health").get_json()["default_engine"]
    assert node["engine"] is None and "another snapshot (an-older-snapshot)" in node["reason"]
    assert node["ncf_on_active_snapshot"] is False
    assert ask_as_user(client, dump)["engine_version"] == "Popularity"  # no events: not Session either
    user = next(u for u in dump["users"] if u["accessed_services"])
    named = client.post("/recommendations", json={**REQUEST, "user_id": user["id"], "engine_version": "NCF"})
    assert named.get_json()["engine_version"] == "NCF"
