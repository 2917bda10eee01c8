"""An active RL version is what POST /recommendations serves for engine RL."""
import pytest

from app.recommendation_log import flush_served
from tests.pipelines.test_rl import train_and_promote
from tests.recommendations.serving_fixtures import serve_marketplace


@pytest.mark.parametrize("panel, size", [("v1", 3), ("v2", 2)])
def test_rl_serves_k_distinct_eligible_services(app, client, db, panel, size):
    import torch

    torch.set_num_threads(1)
    dump = serve_marketplace(app)
    with app.app_context():
        model_id = train_and_promote()
    app.extensions["serving_state"].rebuild_now()
    user = next(u for u in dump["users"] if u["accessed_services"])
    body = client.post("/recommendations", json={
        "user_id": user["id"], "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None,
        "timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "panel_id": panel,
        "search_data": {}, "engine_version": "RL"}).get_json()
    recommendable = {s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")}
    assert body["engine_version"] == "RL" and body["model_version"] == model_id
    assert len(set(body["recommendations"])) == size and set(body["recommendations"]) <= recommendable
    assert not set(body["recommendations"]) & set(user["accessed_services"])


def test_exploring_rl_logs_the_chance_of_each_shown_service(app, client, db):
    """With RL_EXPLORATION_EPSILON at 1 every panel is a uniform draw of K among the n eligible
    services, so each shown service was shown with chance K / n, and that is what the log keeps."""
    import torch

    torch.set_num_threads(1)
    dump = serve_marketplace(app)
    with app.app_context():
        train_and_promote()
    app.config["RL_EXPLORATION_EPSILON"] = 1.0
    app.extensions["serving_state"].rebuild_now()
    user = next(u for u in dump["users"] if u["accessed_services"])
    eligible = {s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")}
    eligible -= set(user["accessed_services"])
    panels = set()
    for _ in range(20):
        body = client.post("/recommendations", json={
            "user_id": user["id"], "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None,
            "timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "panel_id": "v1",
            "search_data": {}, "engine_version": "RL"}).get_json()
        assert body["engine_version"] == "RL" and set(body["recommendations"]) <= eligible
        panels.add(tuple(body["recommendations"]))
    assert flush_served(5.0)
    logged = list(db["recommendations"].find({"engine": "RL"}))
    assert len(logged) == 20
    for record in logged:
        assert record["probabilities"] == pytest.approx([3 / len(eligible)] * 3)
    assert len(panels) > 1
