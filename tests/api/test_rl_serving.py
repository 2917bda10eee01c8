"""An activated RL version is what POST /recommendations serves for engine RL."""
import pytest

from app.training.rl_pipeline import run_rl_pipeline
from tests.recommendations.serving_fixtures import serve_marketplace
from tests.training.test_rl_pipeline import TINY


@pytest.mark.parametrize("panel, size", [("v1", 3), ("v2", 2)])
def test_rl_serves_k_distinct_eligible_services(app, client, db, panel, size):
    import torch

    torch.set_num_threads(1)
    dump = serve_marketplace(app)
    with app.app_context():
        outcome = run_rl_pipeline(config=TINY)
    app.extensions["serving_state"].rebuild_now()
    user = next(u for u in dump["users"] if u["accessed_services"])
    body = client.post("/recommendations", json={
        "user_id": user["id"], "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None,
        "timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "panel_id": panel,
        "search_data": {}, "engine_version": "RL"}).get_json()
    recommendable = {s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")}
    assert body["engine_version"] == "RL" and body["model_version"] == outcome["model_id"]
    assert len(set(body["recommendations"])) == size and set(body["recommendations"]) <= recommendable
    assert not set(body["recommendations"]) & set(user["accessed_services"])
