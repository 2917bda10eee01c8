"""The fold of served panels into what followed them: exact counts per engine and hour and
per experiment variant, shadows as replays, counted once however often a slice is folded,
nothing after the attribution window."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from app.pipelines.served_outcomes import fold_served_outcomes
from app.recommendation_log import flush_served
from app.recommendations.traffic import traffic_series
from app.storage.served_outcomes import FoldState
from tests.api.test_experiments import TWO_ARMS, ask, start
from tests.fixtures.journeys import make_action, new_visit
from tests.recommendations.serving_fixtures import serve_marketplace

LATER = datetime.now(timezone.utc) + timedelta(hours=2)  # every slice's window has passed by then
WITH_SHADOW = {**TWO_ARMS, "variants": [*TWO_ARMS["variants"],
                                        {"name": "session", "engine": "Session", "shadow": True}]}


@pytest.fixture
def served(app, client, db):
    """40 visitors, each shown 1 to 3 panels; some click in the panel (and some then order),
    some click elsewhere on the page. What was done, per panel, is returned to check against."""
    dump = serve_marketplace(app)
    published = sorted(s["id"] for s in dump["services"] if s["status"] == "published")
    experiment = start(client, WITH_SHADOW)
    rng = random.Random(7)
    panels, actions = [], []
    for _ in range(40):
        visitor = str(uuid.uuid4())
        for _ in range(rng.randint(1, 3)):
            visit = new_visit()
            body = ask(client, visitor, visit_id=visit, session=[
                {"service_id": rng.choice(published), "type": "view", "timestamp": "2021-03-18T18:40:00Z"}])
            panel = {"body": body, "visitor": visitor, "clicked": [], "orders": 0, "page_clicks": 0}
            if rng.random() < 0.5:  # a click in the panel, maybe followed two steps later by an order
                service = rng.choice(body["recommendations"])
                click = make_action(source_visit=visit, source_page="/services", target_page=f"/services/{service}",
                                    at=LATER, unique_id=visitor,
                                    root={"type": "recommendation_panel", "panel_id": "v1",
                                          "resource_type": "service", "resource_id": service})
                actions.append(click)
                panel["clicked"].append(service)
                panel["page_clicks"] += 1
                if rng.random() < 0.5:
                    step = make_action(source_visit=click["target"]["visit_id"], source_page="/services/x",
                                       target_page="/services/x/offers", at=LATER, unique_id=visitor)
                    order = make_action(source_visit=step["target"]["visit_id"], source_page="/services/x/offers",
                                        target_page="/projects/1", at=LATER, unique_id=visitor, order=True,
                                        text="Order")
                    actions += [step, order]
                    panel["orders"] += 1
            if rng.random() < 0.3:  # a click elsewhere on the page
                actions.append(make_action(source_visit=visit, source_page="/services", target_page="/services/y",
                                           at=LATER, unique_id=visitor))
                panel["page_clicks"] += 1
            panels.append(panel)
    assert client.post("/user_actions", json=actions).status_code == 204
    flush_served()
    return {"experiment": experiment, "panels": panels, "marketplace": dump, "published": published}


def expected_variants(panels: list[dict]) -> dict[str, dict]:
    expected = {}
    for panel in panels:
        row = expected.setdefault(panel["body"]["variant"], {"units": set(), "panels": 0, "clicks": 0, "orders": 0,
                                                             "page_clicks": 0})
        row["units"].add(panel["visitor"])
        row["panels"] += 1
        row["clicks"] += len(panel["clicked"])
        row["orders"] += panel["orders"]
        row["page_clicks"] += panel["page_clicks"]
    return {name: {**row, "units": len(row["units"])} for name, row in expected.items()}


def results_of(client, experiment) -> dict:
    results = client.get(f"/experiments/{experiment['id']}").get_json()["results"]
    return {row["name"]: row for row in results["variants"]}


def test_each_variant_counts_its_people_panels_clicks_and_orders(app, client, served):
    with app.app_context():
        report = fold_served_outcomes(now=LATER)
    assert report["panels"] == len(served["panels"]) and report["experiments"] == [served["experiment"]["id"]]
    results = results_of(client, served["experiment"])
    for name, expected in expected_variants(served["panels"]).items():
        assert {key: results[name][key] for key in expected} == expected, name
    assert results["popular"]["control"] and results["popular"]["against_control"] is None
    assert results["random"]["against_control"]["verdict"] == "too few visitors"  # 40 people in all


def test_requests_that_named_their_engine_are_counted_as_bypasses(app, client, served):
    for _ in range(3):
        assert ask(client, engine_version="Popularity")["experiment"] is None
    flush_served()
    with app.app_context():
        fold_served_outcomes(now=LATER)
    results = client.get(f"/experiments/{served['experiment']['id']}").get_json()["results"]
    assert results["bypassed"] == 3


def test_a_shadow_counts_the_clicks_on_services_it_would_have_shown(app, client, db, served):
    with app.app_context():
        fold_served_outcomes(now=LATER)
    would_show = {s["recommendation_id"]: set(s["service_ids"]) for s in db["shadow_recommendations"].find()}
    assert would_show  # Session answered every visitor (each has a session)
    agreed = sum(service in would_show.get(p["body"]["recommendation_id"], ())
                 for p in served["panels"] for service in p["clicked"])
    shadow = results_of(client, served["experiment"])["session"]
    assert shadow["shadow"] and shadow["against_control"] is None
    assert shadow["panels"] == len(would_show) and shadow["clicks"] == agreed


def test_a_shadow_behind_panels_served_at_random_gets_an_off_policy_estimate(app, client, db, served):
    with app.app_context():
        fold_served_outcomes(now=LATER)
    would_show = {s["recommendation_id"]: set(s["service_ids"]) for s in db["shadow_recommendations"].find()}
    chances = {r["_id"]: dict(zip(r["service_ids"], r["probabilities"])) for r in db["recommendations"].find()}
    panels = weighted_clicks = weighted_shown = shadow_shown = 0
    for panel in served["panels"]:
        rid = panel["body"]["recommendation_id"]
        if rid not in would_show or min(chances[rid].values()) >= 1:  # certain panels give no chance to others
            continue
        agreed = {s: p for s, p in chances[rid].items() if s in would_show[rid]}
        panels += 1
        weighted_clicks += sum(1 / agreed[s] for s in panel["clicked"] if s in agreed)
        weighted_shown += sum(1 / p for p in agreed.values())
        shadow_shown += len(would_show[rid])
    random_panels = sum(p["body"]["variant"] == "random" and p["body"]["recommendation_id"] in would_show
                        for p in served["panels"])
    assert panels == random_panels > 0  # Random logs k / candidates; Popularity is certain
    estimate = results_of(client, served["experiment"])["session"]["off_policy"]
    assert estimate["panels"] == panels
    assert estimate["ctr"]["value"] == pytest.approx(weighted_clicks / panels, rel=1e-5)
    assert estimate["weight_check"] == pytest.approx(weighted_shown / shadow_shown, rel=1e-5)
    assert {row["name"]: row["off_policy"] for row in results_of(client, served["experiment"]).values()
            if not row["shadow"]} == {"popular": None, "random": None}


def test_traffic_per_engine_and_hour(app, served):
    with app.app_context():
        fold_served_outcomes(now=LATER)
        rows = traffic_series(hours=3, now=LATER)
    by_engine = {row["engine"]: row for row in rows}
    engines = {"popular": "Popularity", "random": "Random"}
    for name, expected in expected_variants(served["panels"]).items():
        row = by_engine[engines[name]]
        assert (row["panels"], row["linked_panels"], row["clicks"], row["orders"], row["page_clicks"]) == (
            expected["panels"], expected["panels"], expected["clicks"], expected["orders"], expected["page_clicks"])
        assert row["hit_rate"] == round(expected["clicks"] / expected["page_clicks"], 4)


def test_a_slice_folded_again_is_counted_once(app, client, db, served):
    with app.app_context():
        fold_served_outcomes(now=LATER)
        first = results_of(client, served["experiment"])
        hours = list(db["traffic_hours"].find({}, {"last_slice": 0}))
        FoldState.objects(id="served").delete()  # as if the run died before it moved its mark
        assert fold_served_outcomes(now=LATER)["panels"] == len(served["panels"])
        assert fold_served_outcomes(now=LATER)["panels"] == 0  # nothing new
    again = results_of(client, served["experiment"])
    for name in first:
        assert {k: again[name][k] for k in ("units", "panels", "clicks", "orders", "off_policy")} == {
            k: first[name][k] for k in ("units", "panels", "clicks", "orders", "off_policy")}
    assert list(db["traffic_hours"].find({}, {"last_slice": 0})) == hours


def test_panels_within_their_window_are_not_counted_yet(app, served):
    with app.app_context():
        report = fold_served_outcomes()  # now: the panels were served moments ago
        assert report["panels"] == 0
        assert report["through"] <= datetime.now(timezone.utc) - timedelta(
            seconds=app.config["EXPERIMENT_ATTRIBUTION_SECONDS"])
        assert fold_served_outcomes(now=LATER)["panels"] == len(served["panels"])  # later, all of them


def test_actions_received_after_the_window_do_not_count(app, client, db, served):
    window = app.config["EXPERIMENT_ATTRIBUTION_SECONDS"]
    late = datetime.now(timezone.utc) + timedelta(seconds=window + 120)
    db["user_actions"].update_many({}, {"$set": {"received_at": late}})
    with app.app_context():
        fold_served_outcomes(now=late + timedelta(hours=1))
    results = results_of(client, served["experiment"])
    assert sum(row["panels"] for row in results.values() if not row["shadow"]) == len(served["panels"])
    assert sum(row["clicks"] + row["orders"] + row["page_clicks"] for row in results.values()) == 0


def test_get_stats_traffic(client, app, served):
    with app.app_context():
        fold_served_outcomes(now=LATER)
    rows = client.get("/stats/traffic?hours=2").get_json()
    assert {row["engine"] for row in rows} == {"Popularity", "Random"}
    assert client.get("/stats/traffic?hours=0").status_code == 400
    assert "hours" in client.get("/stats/traffic?hours=x").get_json()["errors"]


def shift_back(db, hours: float) -> None:
    """As if everything served and done had happened `hours` ago."""
    for collection, field in (("recommendations", "created_at"), ("shadow_recommendations", "created_at"),
                              ("user_actions", "received_at")):
        for document in db[collection].find({}, {field: 1}):
            db[collection].update_one({"_id": document["_id"]},
                                      {"$set": {field: document[field] - timedelta(hours=hours)}})


def test_the_beat_task_folds_in_a_real_worker(app, client, db, served, worker):
    from app import tasks

    shift_back(db, 2)
    with app.app_context():
        done = app.extensions["celery"].tasks[tasks.fold_served_outcomes.name].apply_async().get(timeout=120)
    assert done["panels"] == len(served["panels"]) and done["experiments"] == [served["experiment"]["id"]]
    results = results_of(client, served["experiment"])
    assert sum(row["panels"] for row in results.values() if not row["shadow"]) == len(served["panels"])


def test_flask_experiments_report(app, db, served):
    runner = app.test_cli_runner()
    before = runner.invoke(args=["experiments", "report", served["experiment"]["id"]])
    assert before.exit_code == 0 and "no panels counted yet" in before.output
    shift_back(db, 2)
    after = runner.invoke(args=["experiments", "report", served["experiment"]["id"], "--fold"])
    assert after.exit_code == 0, after.output
    assert "popular (control)" in after.output and "session (shadow)" in after.output
    assert "too few visitors" in after.output
    assert "session had it been shown, estimated from" in after.output  # behind the Random panels
    listed = runner.invoke(args=["experiments", "list"])
    assert served["experiment"]["id"] in listed.output and "running" in listed.output
    missing = runner.invoke(args=["experiments", "report", "0123456789abcdef01234567"])
    assert missing.exit_code != 0 and "no experiment" in missing.output
    stopped = runner.invoke(args=["experiments", "stop", served["experiment"]["id"]])
    assert stopped.exit_code == 0 and "stopped" in stopped.output


def test_deleting_a_user_deletes_their_shadows_and_experiment_counts(app, client, db, served):
    user_id = served["marketplace"]["users"][0]["id"]
    for _ in range(2):
        ask(client, user_id=user_id, visit_id=new_visit(), session=[
            {"service_id": served["published"][0], "type": "view", "timestamp": "2021-03-18T18:40:00Z"}])
    flush_served()
    with app.app_context():
        fold_served_outcomes(now=LATER)
    mine = {"unit": f"user:{user_id}"}
    assert db["experiment_units"].count_documents(mine) == 2  # the variant shown, and the shadow
    assert db["shadow_recommendations"].count_documents(mine) == 2
    others = db["experiment_units"].count_documents({}) - 2
    deleted = client.delete(f"/users/{user_id}").get_json()["deleted"]
    assert (deleted["experiment_units"], deleted["shadow_recommendations"]) == (2, 2)
    assert db["experiment_units"].count_documents(mine) == db["shadow_recommendations"].count_documents(mine) == 0
    assert db["experiment_units"].count_documents({}) == others
