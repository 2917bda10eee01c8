"""GET /stats/hitrate: clicks in served panels over all clicks leaving those pages."""
import uuid

from app.recommendation_log import flush_served
from tests.fixtures.journeys import START, make_action, make_journey
from tests.recommendations.serving_fixtures import serve_marketplace


def show_panel(client, panel_id):
    visit = str(uuid.uuid4())
    body = client.post("/recommendations", json={
        "unique_id": str(uuid.uuid4()), "timestamp": "2021-03-18T18:49:55.006Z", "visit_id": visit,
        "page_id": "/services", "panel_id": panel_id, "search_data": {}, "engine_version": "Random",
    }).get_json()
    return visit, body


def test_hit_rate_per_engine_and_panel(app, client, db):
    serve_marketplace(app)
    visit_v1, shown = show_panel(client, "v1")
    visit_v2, _ = show_panel(client, "v2")
    show_panel(client, "v2")  # a panel nobody clicked anywhere near
    # From the v1 page: a journey that starts in the panel, and a click elsewhere on the page.
    actions = make_journey(service_id=shown["recommendations"][0], panel_visit=visit_v1, user_id=None)
    actions.append(make_action(source_visit=visit_v1, source_page="/services", target_page="/comparisons",
                               at=START, unique_id=actions[0]["unique_id"]))
    # From the v2 page: one click, not in the panel.
    actions.append(make_action(source_visit=visit_v2, source_page="/services", target_page="/services/x",
                               at=START, unique_id=str(uuid.uuid4())))
    assert client.post("/user_actions", json=actions).status_code == 204
    assert flush_served(5.0)

    rows = {(row["engine"], row["panel"]): row for row in client.get("/stats/hitrate").get_json()}
    assert rows[("Random", "v1")] == {"engine": "Random", "panel": "v1", "recommendations": 1,
                                      "clicks": 2, "panel_clicks": 1, "hit_rate": 0.5}
    assert rows[("Random", "v2")]["recommendations"] == 2
    assert rows[("Random", "v2")]["panel_clicks"] == 0 and rows[("Random", "v2")]["hit_rate"] == 0.0

    only_v2 = client.get("/stats/hitrate?panel=v2").get_json()
    assert [row["panel"] for row in only_v2] == ["v2"]
    assert client.get("/stats/hitrate?engine=NCF").get_json() == []


def test_hit_rate_rejects_an_unknown_panel(client, db):
    response = client.get("/stats/hitrate?panel=v3")
    assert response.status_code == 400 and "panel" in response.get_json()["errors"]
