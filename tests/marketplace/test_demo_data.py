"""Demo data stays a demo: once a marketplace's own dump is active, the demo's actions, events,
the answers served from it and the history copies of its identities are gone, and the
marketplace's own actions stay (they may share user ids with the demo's)."""
from datetime import datetime, timezone

from app.cli.data import seed_marketplace
from app.marketplace import dumps, ingestion, recent_history
from app.marketplace.demo_data import IDENTITY_INDEXES
from app.marketplace.history import all_interactions
from app.storage.interactions import ServedRecommendation, ShadowRecommendation
from app.storage.jobs import FINISHED_STATES, Job, utcnow
from app.storage.sars import SarsTransition
from app.storage.served_outcomes import TrafficHour
from app.storage.snapshots import DatasetSnapshot
from tests.api.test_update import wait_for_job
from tests.fixtures.dumps import make_dump
from tests.fixtures.journeys import make_journey

DEMO = {"services": 30, "users": 20, "projects": 6, "journeys": 120, "seed": 3}
OWN_USER = 1  # also a user of the demo: the demo's history must not become theirs
OWN_SERVICE = 7


def load_demo(app, db) -> str:
    with app.app_context():
        loaded = seed_marketplace(**DEMO)
    assert db.user_actions.count_documents({}) == db.user_actions.count_documents({"demo": True}) > 0
    assert db.events.count_documents({}) == db.events.count_documents({"demo": True}) > 0
    assert db.user_actions.count_documents({"user_id": OWN_USER}) > 0
    return loaded["snapshot_id"]


def post_own_journey(client) -> None:
    """The marketplace's own actions, sent before its first dump (it sends them all the time)."""
    journey = make_journey(user_id=OWN_USER, service_id=OWN_SERVICE, start=datetime(2026, 1, 5, tzinfo=timezone.utc))
    assert client.post("/user_actions", json=journey).status_code == 204


def own_action_ids(db) -> set[str]:
    return {doc["_id"] for doc in db.user_actions.find({"demo": {"$ne": True}}, {"_id": 1})}


def test_the_marketplaces_own_dump_drops_the_demo_and_keeps_its_own_actions(app, client, db):
    demo_snapshot = load_demo(app, db)
    demo_actions, demo_events = db.user_actions.count_documents({}), db.events.count_documents({})
    served = [{"_id": "before-the-demo", "created_at": datetime(2020, 1, 1), "engine": "Random"},
              {"_id": "from-the-demo", "created_at": utcnow(), "engine": "Random", "user_id": OWN_USER}]
    db.recommendations.insert_many(served)
    db.shadow_recommendations.insert_one({"_id": "shadow-from-the-demo", "created_at": utcnow(), "unit": "user:1"})
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    db.traffic_hours.insert_many([{"_id": "before", "hour": datetime(2020, 1, 1), "engine": "Random"},
                                  {"_id": "during", "hour": hour, "engine": "Random"}])
    post_own_journey(client)
    own = own_action_ids(db)
    assert len(own) == 6
    with app.app_context():
        copied = recent_history.recent(OWN_USER, None)  # the request path copies the user's history to Redis
        assert len(copied) > 2  # the demo's interactions of user 1, and the two of their own
        snapshot = dumps.store_dump(make_dump(n_services=40, n_users=30, seed=5), source="api")
        outcome = ingestion.ingest_snapshot(snapshot.id)

    assert outcome["status"] == "active"
    dropped = outcome["demo_data_dropped"]
    assert dropped["demo_snapshots"] == [demo_snapshot]
    assert dropped["deleted"] == {"user_actions": demo_actions, "events": demo_events, "recommendations": 1,
                                  "sars": 0, "shadow_recommendations": 1, "traffic_hours": 1}
    assert [doc["_id"] for doc in db.traffic_hours.find()] == ["before"]
    assert db.user_actions.count_documents({"demo": True}) == 0 and db.events.count_documents({}) == 0
    assert own_action_ids(db) == own
    assert [doc["_id"] for doc in db.recommendations.find()] == ["before-the-demo"]
    assert DatasetSnapshot.objects(id=demo_snapshot).first().demo_dropped_at is not None
    with app.app_context():
        remaining = list(all_interactions())
        assert {item["id"] for item in remaining} <= own and len(remaining) == 2  # the click and the order
        history = recent_history.recent(OWN_USER, None)  # the copy was forgotten: read again from MongoDB
        assert [(i.service_id, i.type) for i in history] == [(OWN_SERVICE, "click"), (OWN_SERVICE, "order")]

        # Once dropped, a later dump has nothing to drop.
        later = ingestion.ingest_snapshot(dumps.store_dump(make_dump(n_services=40, n_users=30, seed=6)).id)
        assert later["status"] == "active" and "demo_data_dropped" not in later


def test_a_demo_loaded_again_is_dropped_again(app, client, db):
    load_demo(app, db)
    with app.app_context():
        ingestion.ingest_snapshot(dumps.store_dump(make_dump(n_services=40, n_users=30, seed=5)).id)
    assert db.user_actions.count_documents({}) == 0
    again = load_demo(app, db)  # the same demo dump, received again: active again, its data stored again
    assert DatasetSnapshot.objects(id=again).first().demo_dropped_at is None
    with app.app_context():
        outcome = ingestion.ingest_snapshot(dumps.store_dump(make_dump(n_services=40, n_users=30, seed=7)).id)
    assert outcome["demo_data_dropped"]["deleted"]["user_actions"] > 0
    assert db.user_actions.count_documents({}) == 0 and db.events.count_documents({}) == 0


def test_the_drops_reads_and_deletes_use_indexes(app, db):
    """Each delete equals an indexed identity field (or ranges over an indexed time) on SecantusDB;
    only finding the demo's identities scans, once."""
    load_demo(app, db)
    visitor = db.user_actions.find_one({"demo": True})["unique_id"]
    window = {"$gte": datetime(2020, 1, 1), "$lt": datetime(2030, 1, 1)}
    by_user, by_visitor = IDENTITY_INDEXES["user_id"], IDENTITY_INDEXES["unique_id"]
    shapes = [
        ("user_actions", {"user_id": 3, "demo": True}, None, by_user),
        ("user_actions", {"unique_id": visitor, "demo": True}, None, by_visitor),
        ("events", {"user_id": 3, "demo": True}, None, by_user),
        ("events", {"unique_id": visitor, "demo": True}, None, by_visitor),
        ("recommendations", {"created_at": window}, "created_at", None),
        ("sars", {"recommended_at": window}, "recommended_at", None),
        ("shadow_recommendations", {"created_at": window}, "created_at", None),
        ("traffic_hours", {"hour": window}, "hour", None),
    ]
    with app.app_context():
        ServedRecommendation.ensure_indexes()
        SarsTransition.ensure_indexes()
        ShadowRecommendation.ensure_indexes()
        TrafficHour.ensure_indexes()
    for name, query, sort, hint in shapes:
        cursor = db[name].find(query)
        cursor = cursor.sort(sort, 1) if sort else cursor.hint(hint)
        plan = str(cursor.explain()["queryPlanner"]["winningPlan"])
        assert "IXSCAN" in plan and "COLLSCAN" not in plan and "'SORT'" not in plan, (name, query, plan)



def test_through_the_worker_the_models_of_the_marketplace_never_see_the_demo(app, client, db, worker):
    load_demo(app, db)
    post_own_journey(client)
    dump = make_dump(n_services=40, n_users=30, seed=5)
    ingest = wait_for_job(client, client.post("/update", json=dump).get_json()["job_id"])
    assert ingest["state"] == "SUCCESS" and ingest["result"]["status"] == "active", ingest
    assert ingest["result"]["demo_data_dropped"]["deleted"]["user_actions"] > 0
    assert db.user_actions.count_documents({"demo": True}) == 0 and db.events.count_documents({}) == 0
    trained = {Job.objects(id=job_id).first().name: wait_for_job(client, job_id)
               for job_id in ingest["result"]["training_job_ids"]}
    fitted = trained["marketrec.training.interaction_models"]
    accessed = sum(len(user["accessed_services"]) for user in dump["users"])
    # Popularity and Session learnt from the dump's own orders and the marketplace's click and order only.
    assert fitted["state"] == "SUCCESS" and fitted["result"]["interactions"] == accessed + 2, fitted
    assert all(job["state"] in FINISHED_STATES for job in trained.values())
