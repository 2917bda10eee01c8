"""The NCF gate compares a candidate with the active version on the same data, and the
verdict of which engine measured best on a split."""
import copy

import numpy as np
import pytest

from app import model_registry
from app.marketplace import dumps, ingestion
from app.pipelines.ncf import run_ncf_pipeline
from app.recommendations.default_engine import measured_default
from app.storage.models import ModelVersion
from app.storage.raw_dumps import raw_dump
from app.training.dataset import interaction_data_from_dump
from app.training.evaluation import leave_last_out, with_test_pairs
from app.training.gate import best_engine, pairs_not_learnt
from tests.fixtures.dumps import make_dump
from tests.pipelines.test_ncf import SMALL
from tests.recommendations.serving_fixtures import serve_marketplace, with_focused_users

REQUEST = {"unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None, "page_id": "/services",
           "timestamp": "2021-03-18T18:49:55.006Z", "search_data": {}, "engine_version": "NCF"}


def another_marketplace(dump: dict, offset: int = 100_000) -> dict:
    """The dump with user, service and project ids no other dump uses: a marketplace of its own."""
    def shifted(ids):
        return [i + offset for i in ids]

    for service in dump["services"]:
        service["id"] += offset
        service["related_services"] = shifted(service["related_services"])
        service["required_services"] = shifted(service.get("required_services") or [])
    for user in dump["users"]:
        user["id"] += offset
        user["accessed_services"] = shifted(user["accessed_services"])
    for project in dump["projects"]:
        project["id"] += offset
        project["user_id"] += offset
        project["services"] = shifted(project["services"])
    return dump


def ingest(app, dump: dict) -> str:
    with app.app_context():
        snapshot = dumps.store_dump(dump, source="test")
        ingestion.ingest_snapshot(snapshot.id)
        return snapshot.id


@pytest.fixture
def first_marketplace(app, db):
    import torch

    torch.set_num_threads(1)
    serve_marketplace(app)
    with app.app_context():
        first = run_ncf_pipeline(config=SMALL)
        # Whatever it measured on its own data, the gate must not compare that figure with another data set's.
        ModelVersion.objects(id=first["model_id"]).update(**{"set__metrics__hr@10_sampled": 0.99})
    return first


def test_a_version_of_another_marketplace_does_not_block_one_trained_on_the_active_snapshot(
        app, client, first_marketplace):
    second_dump = another_marketplace(with_focused_users(make_dump(n_services=120, n_users=150, seed=5)))
    snapshot_id = ingest(app, second_dump)
    with app.app_context():
        before = measured_default(snapshot_id)  # the first marketplace's model, not measured here
        outcome = run_ncf_pipeline(config=SMALL)
        version = model_registry.get_version(outcome["model_id"])
        active = model_registry.active_version("NCF")
    assert before["engine"] != "NCF" and "another snapshot" in before["reason"]
    assert outcome["status"] == "activated" and active.id == version.id and version.dataset_id == snapshot_id
    gate = version.metrics["gate"]
    assert gate["model_id"] == first_marketplace["model_id"] and gate["test_users"] > 0 and gate["left_out"] == 0
    # It knows none of these services: each held-out one ties with every negative at 0.
    assert gate["active"] == 0.0 and gate["candidate"] >= gate["active"]
    assert gate["candidate"] == version.metrics["hr@10_sampled"]  # nothing left out: the same pairs

    app.extensions["serving_state"].rebuild_now()
    user = next(u for u in second_dump["users"] if u["accessed_services"])
    body = client.post("/recommendations", json={**REQUEST, "user_id": user["id"]}).get_json()
    assert body["engine_version"] == "NCF" and body["model_version"] == str(version.id)
    assert set(body["recommendations"]) <= {s["id"] for s in second_dump["services"]}


def test_a_resent_dump_cannot_be_measured_against_what_the_active_version_learnt(app, first_marketplace):
    with app.app_context():
        resent = raw_dump(model_registry.get_version(first_marketplace["model_id"]).dataset_id)
    resent = copy.deepcopy(resent)
    resent["services"][0]["name"] += " (renamed)"  # the same takings in a new snapshot
    ingest(app, resent)
    with app.app_context():
        outcome = run_ncf_pipeline(config=SMALL)
        version = model_registry.get_version(outcome["model_id"])
    gate = version.metrics["gate"]
    assert outcome["status"] == "activated" and gate["active"] is None and gate["test_users"] == 0
    assert gate["left_out"] == version.metrics["test_users"] and "training data" in gate["reason"]


def test_only_held_out_pairs_the_other_dump_lacks_are_measured():
    dump = {"users": [{"id": 1, "accessed_services": [10, 11, 12]}, {"id": 2, "accessed_services": [10, 12]},
                      {"id": 3, "accessed_services": [11, 10]}],
            "services": [{"id": i, "status": "published"} for i in (10, 11, 12)]}
    other = {"users": [{"id": 1, "accessed_services": [10, 11, 12]}, {"id": 2, "accessed_services": [10]},
                       {"id": 4, "accessed_services": [10]}]}
    data = interaction_data_from_dump(dump)
    split = leave_last_out(data.user_rows, data.service_rows, data.order)
    keep = pairs_not_learnt(split, data, other)
    assert dict(zip(data.users.ids[split.test_users].tolist(), keep.tolist())) == {1: False, 2: True, 3: True}
    fair = with_test_pairs(split, keep)
    assert data.users.ids[fair.test_users].tolist() == [2, 3]
    np.testing.assert_array_equal(fair.train_items, split.train_items)


@pytest.mark.parametrize("scores, engine", [
    ({"NCF": 0.6, "Popularity": 0.5, "Session": 0.4}, "NCF"),
    ({"NCF": 0.4, "Popularity": 0.5, "Session": 0.3}, "Popularity"),
    ({"NCF": 0.5, "Popularity": 0.5, "Session": 0.3}, "Popularity"),  # a tie is not beating it
    ({"NCF": 0.5, "Popularity": 0.3, "Session": 0.55}, "Session"),
    ({"NCF": 0.5, "Popularity": 0.4, "Session": 0.4}, "NCF"),
    ({"NCF": None, "Popularity": 0.4, "Session": 0.3}, "Popularity"),
])
def test_ncf_is_the_default_only_where_it_beats_popularity_and_session(scores, engine):
    verdict = best_engine(scores)
    assert verdict["engine"] == engine and verdict["scores"] == scores
    assert "Popularity" in verdict["reason"] and "Session" in verdict["reason"]
