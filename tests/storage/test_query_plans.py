"""Every MongoDB read of the request path is served by an index.

The reads are not copied here: a pymongo command listener records what the real code
sends while requests go through the API (and the serving-state poll, the history
copy's fill, the trainers' bulk read run), then each recorded read is explained on
the server under test. A winning plan fails on a collection scan, or on a blocking
sort that MongoDB could not serve from the index the plan walks.

SecantusDB reports a blocking SORT for every sort that is not on the leading key of
the index it walks, even when MongoDB serves it from that index (equality on the
index prefix, then a sort on the next keys): such a SORT is accepted, because on
SecantusDB it orders only the documents the index range gave. Any other SORT, and
every COLLSCAN, fails: e.g. a history read filtering the actions about a service
with an `$or` plans as COLLSCAN + SORT over the whole collection.
"""
from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from pymongo import monitoring

from app.marketplace import recent_history, serving_catalogue
from app.marketplace.events import store_events
from app.marketplace.history import all_interactions
from app.marketplace.user_actions import store_user_actions
from app.recommendation_log import flush_served
from app.recommendations.serving_state import current_stamp
from app.storage import connection, database, time_buckets
from app.storage.raw_dumps import raw_dump
from app.storage.snapshots import active_snapshot_id
from tests.fixtures.journeys import START, make_action, make_journey, new_visit, wire_time
from tests.recommendations.serving_fixtures import NOW, serve_marketplace

READ_COMMANDS = ("find", "aggregate", "distinct", "count")
# Fields of a recorded command that say what it reads (the rest: session, cluster time...).
SHAPE_FIELDS = {
    "find": ("filter", "sort", "projection", "skip", "limit", "hint", "collation"),
    "aggregate": ("pipeline", "hint", "collation"),
    "distinct": ("key", "query", "hint", "collation"),
    "count": ("query", "skip", "limit", "hint", "collation"),
}
USERS, VISITORS, JOURNEYS, EVENTS = 150, 300, 700, 2000
PANEL = {"timestamp": "2021-03-18T18:49:55.006Z", "page_id": "/services", "panel_id": "v1",
         "client_id": "marketplace", "search_data": {}}


class ReadRecorder(monitoring.CommandListener):
    """The read commands sent while `recording`, as (collection, command) pairs."""

    def __init__(self):
        self.recording = False
        self.reads: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def started(self, event):
        name = event.command_name
        if self.recording and name in READ_COMMANDS:
            shape = {key: copy.deepcopy(event.command[key]) for key in SHAPE_FIELDS[name] if key in event.command}
            with self._lock:
                self.reads.append((event.command[name], {name: event.command[name], **shape}))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    @contextmanager
    def record(self) -> Iterator[list[tuple[str, dict]]]:
        self.reads = []
        self.recording = True
        try:
            yield self.reads
        finally:
            self.recording = False


@pytest.fixture(scope="module")
def recorder(app):
    """A listener on the app's MongoDB clients (pymongo adds listeners to clients created
    after they are registered: the clients are rebuilt)."""
    listener = ReadRecorder()
    monitoring.register(listener)
    with app.app_context():
        connection.reconnect()
    return listener


def winning_plan(command: dict) -> dict:
    explained = database().command({"explain": command, "verbosity": "queryPlanner"})
    planner = explained.get("queryPlanner") or explained.get("stages", [{}])[0].get("$cursor", {}).get(
        "queryPlanner", {})
    return planner.get("winningPlan", {})


def stages(plan) -> list[dict]:
    """Every stage of a plan, outermost first (inputStage, inputStages, queryPlan...)."""
    found, todo = [], [plan]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if "stage" in node:
                found.append(node)
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _equality_fields(query: dict) -> set[str]:
    def is_equality(value) -> bool:
        return not isinstance(value, dict) or set(value) == {"$eq"}
    return {field for field, value in query.items() if not field.startswith("$") and is_equality(value)}


def index_serves_sort(sort_stage: dict, query: dict) -> bool:
    """Whether MongoDB would serve this SORT from the index scan below it: the index's keys
    are the query's equality fields, then the sort's fields, all in the sort's directions
    or all reversed."""
    below = sort_stage.get("inputStage", {})
    while below.get("stage") in ("FETCH", "PROJECTION_SIMPLE", "PROJECTION_DEFAULT"):
        below = below.get("inputStage", {})
    if below.get("stage") != "IXSCAN":
        return False
    equal = _equality_fields(query)
    keys = list(below["keyPattern"].items())
    sort = [(field, direction) for field, direction in sort_stage["sortPattern"].items() if field not in equal]
    prefix = {field for field, _ in keys[:len(equal)]}
    following = keys[len(equal):len(equal) + len(sort)]
    if prefix != equal or [field for field, _ in following] != [field for field, _ in sort]:
        return False
    same = [index_direction == direction for (_, index_direction), (_, direction) in zip(following, sort)]
    return all(same) or not any(same)


def scans(command: dict) -> list[str]:
    """What is wrong with the command's winning plan: COLLSCAN, or a SORT no index serves."""
    query = command.get("filter") or command.get("query") or {}
    if "pipeline" in command:
        query = next((stage["$match"] for stage in command["pipeline"] if "$match" in stage), {})
    problems = []
    for stage in stages(winning_plan(command)):
        if stage["stage"] == "COLLSCAN":
            problems.append("COLLSCAN")
        elif stage["stage"] == "SORT" and not index_serves_sort(stage, query):
            problems.append(f"in-memory SORT on {stage.get('sortPattern')}")
    return problems


def check_plans(reads: list[tuple[str, dict]]) -> None:
    failures = [f"{collection}: {command} -> {', '.join(problems)}"
                for collection, command in reads if (problems := scans(command))]
    assert not failures, "reads that scan:\n" + "\n".join(failures)


# --- A marketplace with a realistic volume of interactions ---------------------------

@pytest.fixture(scope="module")
def traffic(app, recorder):
    """A served dump (150 users), ~3,700 user actions of 700 journeys and ~2,500 events of
    users and visitors; what the requests below need to name."""
    with app.app_context():
        for name in database().list_collection_names():
            database()[name].delete_many({})
        recent_history.forget_all()
    dump = serve_marketplace(app)
    rng = random.Random(14)
    users = [user["id"] for user in dump["users"]][:USERS]
    services = [service["id"] for service in dump["services"]]
    visitors = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(VISITORS)]
    actions, events = [], []
    for number in range(JOURNEYS):
        user = rng.choice(users) if rng.random() < 0.6 else None
        journey = make_journey(user_id=user, unique_id=rng.choice(visitors), service_id=rng.choice(services),
                               start=START + timedelta(minutes=7 * number), order=rng.random() < 0.3)
        actions.extend(journey)
    for number in range(EVENTS):
        user = rng.choice(users) if rng.random() < 0.5 else None
        events.append({"user_id": user, "unique_id": None if user else rng.choice(visitors),
                       "service_id": rng.choice(services), "type": rng.choice(("view", "cart", "bookmark")),
                       "timestamp": wire_time(NOW - timedelta(minutes=number))})
    # An order whose journey is not stored: readers look for its service when they read it.
    lost_order = make_action(source_visit=new_visit(), source_page="/services/x/summary", target_page="/projects/1",
                             at=NOW, unique_id=visitors[0], user_id=users[0], text="Order", order=True)
    with app.app_context():
        for start in range(0, len(actions), 500):
            store_user_actions(actions[start:start + 500])
        store_user_actions([lost_order])
        for start in range(0, len(events), 500):
            store_events(events[start:start + 500])
        recent_history.forget_all()  # every history read below starts from MongoDB
    aai_users = {user["id"]: user["aai_uid"] for user in dump["users"]}
    return {"users": users, "visitors": visitors, "services": services, "aai_uid": aai_users[users[1]],
            "last_action": actions[-1], "lost_order_user": users[0], "lost_order_visitor": visitors[0]}


def test_the_data_gives_the_planner_choices(app, traffic):
    with app.app_context():
        assert database()["user_actions"].estimated_document_count() > 3500
        assert database()["events"].estimated_document_count() > 2000
        names = {name for index in database()["user_actions"].list_indexes() for name in [index["name"]]}
    assert {"user_id_1_timestamp_1", "unique_id_1_timestamp_1", "timestamp_1", "target.visit_id_1"} <= names


def test_recommendation_and_score_requests_read_through_indexes(app, client, recorder, traffic):
    with recorder.record() as reads:
        for payload in (
            {"user_id": traffic["users"][2], "unique_id": traffic["visitors"][2]},
            {"user_id": None, "unique_id": traffic["visitors"][3]},
            {"aai_uid": traffic["aai_uid"], "unique_id": traffic["visitors"][4]},
            {"user_id": traffic["lost_order_user"], "unique_id": traffic["lost_order_visitor"]},
        ):
            response = client.post("/recommendations", json={**PANEL, "visit_id": new_visit(), **payload})
            assert response.status_code == 200, response.json
        response = client.post("/scores", json={"user_id": traffic["users"][5], "unique_id": traffic["visitors"][5],
                                                "service_ids": traffic["services"][:20]})
        assert response.status_code == 200, response.json
        flush_served()
    read = {(collection, tuple(sorted(command.get("filter", {})))) for collection, command in reads}
    assert ("user_actions", ("user_id",)) in read  # the history reads were recorded
    assert ("user_actions", ("unique_id",)) in read
    assert ("events", ("user_id",)) in read and ("events", ("unique_id",)) in read
    assert ("users", ("aai_uid", "snapshot_id")) in read
    assert ("user_actions", ("target.visit_id",)) in read  # the lost order's journey, looked for
    check_plans(reads)


def test_storing_actions_and_events_reads_through_indexes(app, client, recorder, traffic):
    stored = traffic["last_action"]
    follow_up = make_action(source_visit=stored["target"]["visit_id"], source_page=stored["target"]["page_id"],
                            target_page="/projects/2", at=NOW, unique_id=stored["unique_id"], text="Order",
                            order=True)
    by_identity = make_journey(user_id=None, aai_uid=traffic["aai_uid"], unique_id=traffic["visitors"][6],
                               service_id=traffic["services"][0], start=NOW)
    event = {"user_id": traffic["users"][7], "service_id": traffic["services"][1], "type": "view",
             "timestamp": wire_time(NOW)}
    with recorder.record() as reads:
        assert client.post("/user_actions", json=[follow_up, *by_identity]).status_code == 204
        assert client.post("/events", json={"events": [event]}).status_code == 204
    collections = {collection for collection, _ in reads}
    assert {"user_actions", "users"} <= collections  # the order's journey; the identity's user id
    check_plans(reads)


def test_health_and_the_serving_state_poll_read_through_indexes(app, client, recorder, traffic):
    with recorder.record() as reads:
        client.get("/health")
        with app.app_context():
            current_stamp()
            app.extensions["serving_state"].rebuild_now()
    # The snapshot's services and users come from its serving catalogue, one GridFS file.
    assert {"active_snapshot", "registry_state", "model_versions", "serving_catalogues.chunks"} <= {
        c for c, _ in reads}
    assert not {"services", "users"} & {c for c, _ in reads}
    check_plans(reads)


def test_a_snapshot_without_a_serving_catalogue_is_read_in_bounded_windows(app, recorder, traffic):
    with app.app_context():
        snapshot_id = active_snapshot_id()
        serving_catalogue.delete(snapshot_id)
        try:
            with recorder.record() as reads:
                app.extensions["serving_state"].rebuild_now()
        finally:
            serving_catalogue.write(snapshot_id, raw_dump(snapshot_id))
    assert {"services", "users"} <= {c for c, _ in reads}
    check_plans(reads)
    # Windows bounded on both sides (app/storage/pacing.py); users without an aai_uid by equality.

    def bounded(query: dict) -> bool:
        window = query.get("marketplace_id", query.get("aai_uid"))
        return isinstance(window, dict) and set(window) in ({"$gte", "$lt"}, {"$gte", "$lte"})
    bulk = [command["filter"] for collection, command in reads if collection in ("services", "users")]
    assert all(bounded(query) or ("aai_uid" in query and query["aai_uid"] is None) for query in bulk), bulk


def test_the_history_copy_fills_from_indexes(app, recorder, traffic):
    with app.app_context(), recorder.record() as reads:
        recent_history.forget(user_ids=[traffic["users"][8]], unique_ids=[traffic["visitors"][8]])
        found = recent_history.recent(traffic["users"][8], traffic["visitors"][8])
    assert found and len(reads) >= 4  # actions and events of the user and of the visitor
    check_plans(reads)


def test_the_trainers_bulk_read_walks_the_time_index(app, recorder, traffic):
    with app.app_context(), recorder.record() as reads:
        everything = list(all_interactions())
        recent = list(all_interactions(since=NOW - timedelta(hours=1)))
    assert len(everything) > len(recent) > 0
    check_plans(reads)
    # On SecantusDB a read costs every document of its index range, and holds other clients
    # meanwhile: each range is bounded on both sides (app/storage/time_buckets.py).
    # (Journey lookups of orders, by visit, are bounded by their equality.)
    walks = [command["filter"] for collection, command in reads
             if collection in ("user_actions", "events") and not _equality_fields(command.get("filter", {}))]
    assert len(walks) > 2 and all(set(query.get("timestamp", {})) == {"$gte", "$lt"} for query in walks), walks
    with app.app_context():
        held = [database()[collection].count_documents(command["filter"]) for collection, command in reads
                if collection in ("user_actions", "events") and command.get("filter") in walks]
    assert sum(held) >= len(everything) and max(held) <= 2 * time_buckets.WINDOW_DOCS


def test_a_history_read_with_or_is_caught(app, recorder, traffic):
    """The check itself: the read the histories used to send scans."""
    with app.app_context(), recorder.record() as reads:
        database()["user_actions"].find_one(
            {"user_id": traffic["users"][2], "$or": [{"service_id": {"$exists": True}}, {"action.order": True}]},
            sort=[("timestamp", -1)])
    with pytest.raises(AssertionError, match="COLLSCAN"):
        check_plans(reads)


def test_experiments_serving_and_the_served_outcomes_fold_read_through_indexes(app, client, recorder, traffic):
    from app.experiment_registry import list_experiments
    from app.pipelines.served_outcomes import fold_served_outcomes
    from app.recommendations.traffic import traffic_series
    from tests.api.test_experiments import TWO_ARMS

    with recorder.record() as reads:
        created = client.post("/experiments", json={**TWO_ARMS, "variants": [
            *TWO_ARMS["variants"], {"name": "shadow", "engine": "Session", "shadow": True}]})
        assert created.status_code == 201, created.get_json()
        with app.app_context():
            app.extensions["serving_state"].rebuild_now()
        visits = [action["source"]["visit_id"] for action in database()["user_actions"].find(
            {"source.root.type": "recommendation_panel"}, {"source.visit_id": 1}).limit(30)]
        for number, visit in enumerate(visits):
            assert client.post("/recommendations", json={
                **PANEL, "unique_id": traffic["visitors"][number], "visit_id": visit}).status_code == 200
        flush_served()
        with app.app_context():
            report = fold_served_outcomes(now=NOW + timedelta(hours=2))
            traffic_series(hours=24 * 800, now=NOW + timedelta(hours=2))
            list_experiments("running")
        client.get(f"/experiments/{created.get_json()['id']}")
        client.post(f"/experiments/{created.get_json()['id']}/stop")
    assert report["panels"] >= 30 and report["experiments"] == [created.get_json()["id"]]
    collections = {c for c, _ in reads}
    assert {"experiments", "experiments_state", "recommendations", "shadow_recommendations", "user_actions",
            "experiment_units", "traffic_hours"} <= collections
    check_plans([(c, command) for c, command in reads if c != "user_actions" or "filter" not in command
                 or "source.root.type" not in command["filter"]])  # the test's own pick of visits
    # SecantusDB applies a limit after its index scan: a read of the log by time is bounded on both
    # sides, or it examines every later record (an open `$gte` with limit 1 took 61 s at 400k).
    by_time = [command["filter"]["created_at"] for c, command in reads
               if c in ("recommendations", "shadow_recommendations") and "created_at" in command.get("filter", {})]
    assert by_time and all(set(window) == {"$gte", "$lt"} for window in by_time), by_time


def test_rotation_reads_a_persons_panels_through_their_own_index(app, client, recorder, traffic):
    # Panels of many people first, so that the time index alone would be a poor choice.
    for number in range(60):
        client.post("/recommendations", json={**PANEL, "visit_id": new_visit(), "unique_id": traffic["visitors"][
            number % 30], "user_id": traffic["users"][number % 20] if number % 2 else None})
    flush_served()
    with recorder.record() as reads:
        for payload in ({"user_id": traffic["users"][9], "unique_id": traffic["visitors"][9]},
                        {"user_id": None, "unique_id": traffic["visitors"][10]}):
            response = client.post("/recommendations", json={**PANEL, "visit_id": new_visit(), "rotation": 0.5,
                                                             **payload})
            assert response.status_code == 200, response.json
    showings = [(collection, command) for collection, command in reads if collection == "recommendations"]
    assert {tuple(sorted(command["filter"])) for _, command in showings} == {("created_at", "user_id"),
                                                                            ("created_at", "unique_id")}
    check_plans(showings)
    for _, command in showings:
        person = next(field for field in command["filter"] if field != "created_at")
        scanned = [stage["keyPattern"] for stage in stages(winning_plan(command)) if stage["stage"] == "IXSCAN"]
        assert scanned == [{person: 1, "created_at": 1}], scanned
