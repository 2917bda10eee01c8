"""The serving benchmark's browsing sessions: valid for the API, and histories the request path can use."""
from datetime import datetime, timezone

from app.marketplace.history import user_history, visitor_history
from benchmarks.journeys import Sessions, store_sessions

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
SERVICES = [{"id": service_id, "name": f"Data Cloud {service_id}"} for service_id in range(1, 41)]
VISITORS = ["0b7f2c4e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", "5d0e9a8b-7c6d-4e5f-8a9b-0c1d2e3f4a5b"]


def sessions(seed: int = 0) -> Sessions:
    return Sessions(SERVICES, list(range(1, 21)), VISITORS, NOW, seed=seed)


def test_sessions_repeat_for_a_seed_and_are_chains_of_page_visits():
    first, again = sessions(), sessions()
    drawn = [first.session() for _ in range(200)]
    assert drawn == [again.session() for _ in range(200)]
    for actions in drawn:
        assert actions[0]["source"]["root"]["type"] == "recommendation_panel"
        for before, after in zip(actions, actions[1:]):
            assert after["source"]["visit_id"] == before["target"]["visit_id"]
            assert after["timestamp"] > before["timestamp"]
            assert after["unique_id"] == before["unique_id"]
        assert actions[-1]["timestamp"] < "2026-06-01"
    orders = [a for actions in drawn for a in actions if a["action"]["order"]]
    assert orders and all("user_id" in order and "root" not in order["source"] for order in orders)
    assert any("user_id" not in actions[0] for actions in drawn)  # anonymous visitors browse too


def test_every_action_is_accepted_by_the_api(app, client, db):
    actions = [action for batch in sessions().batches(300, 100) for s in batch for action in s]
    assert len(actions) >= 300
    assert client.post("/user_actions", json=actions).status_code == 204
    assert db["user_actions"].count_documents({}) == len(actions)


def test_stored_sessions_give_histories_of_clicks_and_of_orders_of_the_clicked_services(app, db):
    with app.app_context():
        counts = store_sessions(sessions(seed=1), 2000, batch_size=500)
        assert counts.actions == db["user_actions"].count_documents({}) >= 2000
        assert counts.orders > 0 and counts.user_ids and counts.visitor_ids
        histories = [user_history(user_id, limit=10_000) for user_id in sorted(counts.user_ids)]
        visitor = visitor_history(sorted(counts.visitor_ids)[0])
    kinds = {record.type for history in histories for record in history}
    assert kinds == {"click", "order"}
    for history in histories:
        clicked = {record.service_id for record in history if record.type == "click"}
        assert {record.service_id for record in history if record.type == "order"} <= clicked
    assert visitor and {record.type for record in visitor} == {"click"}
