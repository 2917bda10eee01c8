"""The NCF pipeline end to end: snapshot → registered, gated, served version."""
import random
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from app import model_registry
from app.errors import DataRejected
from app.marketplace import dumps, ingestion
from app.marketplace.events import store_events
from app.pipelines.ncf import run_ncf_pipeline
from app.storage.models import ModelVersion
from app.training.autoencoder import AutoencoderConfig
from app.training.ncf_network import NCFConfig
from app.training.ncf_training import NCFTrainingConfig
from tests.fixtures.dumps import make_dump
from tests.fixtures.journeys import wire_time
from tests.recommendations.serving_fixtures import NOW, serve_marketplace

SMALL = NCFTrainingConfig(user_autoencoder=AutoencoderConfig(embedding_dim=8, hidden_dim=16, epochs=3),
                          service_autoencoder=AutoencoderConfig(embedding_dim=8, hidden_dim=16, epochs=3),
                          ncf=NCFConfig(gmf_dim=8, mlp_embedding_dim=8, mlp_layers=(16, 8), epochs=3))


@pytest.fixture
def marketplace(app, db):
    import torch

    torch.set_num_threads(1)
    return serve_marketplace(app)


def test_a_trained_version_has_metrics_lineage_plots_and_serves(app, client, marketplace):
    steps_seen = []
    with app.app_context():
        outcome = run_ncf_pipeline(config=SMALL, progress=lambda step, percent, **_: steps_seen.append(step))
        version = model_registry.get_version(outcome["model_id"])
        snapshot_id = outcome["snapshot_id"]
    assert outcome["status"] == "activated" and version.status == "active"
    assert version.dataset_id == snapshot_id and version.config["digest"]
    assert 0 <= version.metrics["hr@10_sampled"] <= 1
    assert set(version.metrics["baselines"]) == {"Popularity", "Session", "EASE"}
    verdict = version.metrics["default_engine"]
    assert verdict["engine"] in ("NCF", "Popularity", "Session") and verdict["reason"]
    assert verdict["metric"] == "hr@10_full"
    assert verdict["scores"]["Session"] == version.metrics["baselines"]["Session"]["hr@10_full"]
    assert verdict["scores"]["NCF"] == version.metrics["hr@10_full"]
    assert [s["step"] for s in version.metrics["steps"]] == [
        "extract", "prepare", "validate data", "train", "evaluate baselines", "register", "validate model"]
    assert version.metrics["curve"] and sorted(version.plots) == ["metrics", "training"]
    assert {"extract", "train", "validate model"} <= set(steps_seen)
    assert client.get(f"/models/{version.id}/plots/training.png").data.startswith(b"\x89PNG")

    app.extensions["serving_state"].rebuild_now()
    user = next(u for u in marketplace["users"] if u["accessed_services"])
    body = client.post("/recommendations", json={
        "user_id": user["id"], "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None,
        "timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "search_data": {},
        "engine_version": "NCF"}).get_json()
    assert body["engine_version"] == "NCF" and body["model_version"] == str(version.id)
    assert len(body["recommendations"]) == 3
    assert version.metrics["objectives"]["click"] == {  # the fixture's clicks are visitors'
        "positives": 0, "users": 0, "trained": False, "reason": "0 positives, fewer than 500"}


def test_stored_clicks_of_the_dumps_users_train_the_click_side_that_serves_click_panels(app, client, marketplace):
    rng = random.Random(3)
    services = [s["id"] for s in marketplace["services"] if s["status"] == "published"]
    users = [u for u in marketplace["users"] if u["accessed_services"]][:40]
    clicks = [{"user_id": user["id"], "service_id": service, "type": "click",
               "timestamp": wire_time(NOW - timedelta(minutes=minute))}
              for user in users for minute, service in enumerate(rng.sample(services, 5))]
    with app.app_context():
        store_events(clicks)
        outcome = run_ncf_pipeline(config=replace(SMALL, objective_min_positives=100, objective_epochs=2))
        version = model_registry.get_version(outcome["model_id"])
    click = version.metrics["objectives"]["click"]
    assert click["trained"] and click["users"] == 40 and click["positives"] >= 190  # a pair taken twice counts once
    assert {"NCF", "NCF order model", "Popularity"} <= set(click) and click["NCF"]["test_users"] == 40
    assert version.metrics["objectives"]["cart"]["trained"] is False
    assert "objective_click_service_gmf" in model_registry.load_arrays(version)

    app.extensions["serving_state"].rebuild_now()
    request = {"user_id": users[0]["id"], "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None,
               "timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "search_data": {},
               "engine_version": "NCF"}
    answers = {objective: client.post("/recommendations", json={**request, "objective": objective}).get_json()
               for objective in ("click", "order")}
    assert all(body["engine_version"] == "NCF" and len(body["recommendations"]) == 3 for body in answers.values())
    assert answers["click"]["objective"] == "click"


def test_the_same_snapshot_and_config_train_once(app, marketplace):
    with app.app_context():
        first = run_ncf_pipeline(config=SMALL)
        again = run_ncf_pipeline(config=SMALL)
    assert again == {"status": "exists", "model_id": first["model_id"], "model_status": "active"}
    assert ModelVersion.objects(engine="NCF").count() == 1


def test_a_worse_version_is_registered_but_not_activated(app, marketplace):
    with app.app_context():
        first = run_ncf_pipeline(config=SMALL)
        ModelVersion.objects(id=first["model_id"]).update(**{"set__metrics__hr@10_sampled": 1.0})
        second = run_ncf_pipeline(config=NCFTrainingConfig(**{**SMALL.__dict__, "evaluation_seed": 1}))
        assert second["status"] == "rejected"
        assert str(model_registry.active_version("NCF").id) == first["model_id"]


def test_too_little_data_is_rejected_with_the_reason(app, db):
    with app.app_context():
        ingestion.ingest_snapshot(dumps.store_dump(make_dump(n_services=12, n_users=3)).id)
        with pytest.raises(DataRejected) as rejected:
            run_ncf_pipeline(config=SMALL)
    assert "users" in rejected.value.errors


def test_a_running_training_job_is_cancelled(app, client, db, worker):
    serve_marketplace(app, n_services=300, n_users=3000)  # enough to train for several seconds
    response = client.post("/training", json={"engines": ["ncf"]})
    assert response.status_code == 202
    job_id = response.get_json()["jobs"]["ncf"]
    deadline = time.monotonic() + 60
    while client.get(f"/jobs/{job_id}").get_json().get("step") != "train" and time.monotonic() < deadline:
        time.sleep(0.05)
    client.post(f"/jobs/{job_id}/cancel")
    deadline = time.monotonic() + 30
    while (state := client.get(f"/jobs/{job_id}").get_json()["state"]) not in ("SUCCESS", "FAILURE", "REVOKED"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    assert state == "REVOKED"
    with app.app_context():
        assert model_registry.active_version("NCF") is None  # nothing half-trained became active
        assert ModelVersion.objects(engine="NCF").count() == 0


@pytest.mark.parametrize("body, field", [({}, "engines"), ({"engines": []}, "engines"),
                                         ({"engines": ["magic"]}, "engines.0")])
def test_bad_training_requests_are_400(client, db, body, field):
    response = client.post("/training", json=body)
    assert response.status_code == 400 and field in response.get_json()["errors"]
