"""SARS generation from served panels and the journeys posted after them: rewards, history, incremental
and crash-safe processing."""
import math
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from app.marketplace.events import store_events
from app.pipelines.sars_store import (
    generate_sars,
    load_transitions,
    regenerate_sars,
    snapshot_context,
    stored_transition,
)
from app.recommendation_log import flush_served
from app.rl.rewards import combine, load_reward_table
from app.storage.sars import SarsTransition
from tests.fixtures.journeys import make_journey, wire_time
from tests.recommendations.serving_fixtures import serve_marketplace


@pytest.fixture
def marketplace(app, db):
    return serve_marketplace(app)


def serve_panel(client, unique_id: str, visit_id: str) -> list[int]:
    """POST /recommendations for an anonymous visitor on `visit_id`; the recommended ids."""
    body = client.post("/recommendations", json={
        "unique_id": unique_id, "visit_id": visit_id, "timestamp": wire_time(datetime.now(timezone.utc)),
        "page_id": "/services", "panel_id": "v1", "search_data": {}, "engine_version": "Popularity"}).get_json()
    assert len(body["recommendations"]) == 3, body
    return body["recommendations"]


def order_from_panel(client, unique_id: str, visit_id: str, service_id: int) -> None:
    """A click on `service_id` in the panel of `visit_id`, through its pages to an order."""
    actions = make_journey(service_id=service_id, panel_visit=visit_id, unique_id=unique_id, user_id=None,
                           start=datetime.now(timezone.utc) + timedelta(seconds=1))
    assert client.post("/user_actions", json=actions).status_code == 204


def test_an_ordered_recommendation_earns_the_order_reward(app, client, marketplace):
    unique_id, visit_id = str(uuid.uuid4()), str(uuid.uuid4())
    browsed = marketplace["services"][0]["id"]
    with app.app_context():  # a service the visitor looked at before the panel: the state's history
        store_events([{"unique_id": unique_id, "service_id": browsed, "type": "view",
                       "timestamp": wire_time(datetime.now(timezone.utc) - timedelta(minutes=5))}])
    shown = serve_panel(client, unique_id, visit_id)
    order_from_panel(client, unique_id, visit_id, shown[0])
    assert flush_served()
    with app.app_context():
        outcome = generate_sars(settle_seconds=0)
        document = SarsTransition._get_collection().find_one({})
        encoder, _ = snapshot_context(outcome["snapshot_id"])
    assert outcome["stored"] == 1
    assert document["action_ids"] == shown and document["item_rewards"] == [1.0, 0.0, 0.0]
    assert math.isclose(document["reward"], combine([1.0, 0.0, 0.0], load_reward_table()), rel_tol=1e-6)
    assert document["done"] is True and document["clicked"] == [shown[0]]
    assert document["history"] == [browsed]  # the journey's own click came after the panel
    transition = stored_transition(document)
    np.testing.assert_allclose(transition.state, encoder.state({}, [browsed]))
    np.testing.assert_allclose(transition.next_state, encoder.state({}, [browsed, shown[0]]))
    assert transition.action.shape == (3, encoder.service_embeddings.shape[1])


def test_processing_is_incremental_and_waits_for_journeys_to_settle(app, client, marketplace):
    serve_panel(client, str(uuid.uuid4()), str(uuid.uuid4()))
    assert flush_served()
    with app.app_context():
        assert generate_sars(settle_seconds=3600)["stored"] == 0  # too fresh: its journeys may not have happened
        assert generate_sars(settle_seconds=0)["stored"] == 1
        serve_panel(client, str(uuid.uuid4()), str(uuid.uuid4()))
        assert flush_served()
        again = generate_sars(settle_seconds=0)
        assert again["stored"] == 1 and again["transitions"] == 2
        assert generate_sars(settle_seconds=0)["stored"] == 0


class Killed(Exception):
    pass


def test_a_run_killed_half_way_is_completed_by_the_next_without_duplicates(app, client, marketplace):
    for _ in range(6):
        unique_id, visit_id = str(uuid.uuid4()), str(uuid.uuid4())
        shown = serve_panel(client, unique_id, visit_id)
        order_from_panel(client, unique_id, visit_id, shown[1])
    assert flush_served()

    def die_after_three(step, percent, stored, **_):
        if stored == 3:
            raise Killed()

    with app.app_context():
        with pytest.raises(Killed):
            generate_sars(die_after_three, settle_seconds=0)
        assert SarsTransition.objects.count() == 3
        assert generate_sars(settle_seconds=0)["stored"] == 3
        ids = [d["_id"] for d in SarsTransition._get_collection().find({}, {"_id": 1})]
        assert len(ids) == len(set(ids)) == 6
        assert all(d.item_rewards[1] == 1.0 for d in SarsTransition.objects)
        rebuilt = regenerate_sars(settle_seconds=0)
        assert rebuilt["dropped"] == 6 and rebuilt["stored"] == 6
        encoder, _ = snapshot_context(rebuilt["snapshot_id"])
        batch = load_transitions(encoder)
    assert len(batch) == 6 and batch.dones.all() and batch.states.shape == (6, encoder.state_size)
