"""How a snapshot's marketplace documents are keyed, grouped, counted and deleted."""
import math

import pytest

from app.marketplace import catalogue, dumps, ingestion
from app.storage import pacing
from app.storage.interactions import ServedRecommendation
from app.storage.marketplace import (
    DUMP_COLLECTIONS,
    PROJECTS_PER_DOCUMENT,
    RETIRED_INDEXES,
    collection_of,
    count_items,
    delete_snapshot_documents,
    document_batches,
    drop_retired_indexes,
    user_key,
    window_bounds,
)
from app.storage.snapshots import DatasetSnapshot
from tests.fixtures.dumps import make_dump
from tests.fixtures.mongo_commands import recorded_finds

SNAPSHOT = "20240101-000000-0000aaaa"
OTHER = "20240101-000000-0000bbbb"


@pytest.fixture
def ctx(app, db):
    with app.app_context():
        yield db


def write(dump: dict, snapshot_id: str, size: int = 5000) -> None:
    for key, batch, _ in document_batches(dump, snapshot_id, size):
        collection_of(key).insert_many(batch)


def test_projects_are_grouped_in_dump_order_and_batched_by_items():
    dump = make_dump(n_services=10, n_users=30, n_projects=2 * PROJECTS_PER_DOCUMENT + 500, seed=1)
    batches = [(batch, items) for key, batch, items in document_batches(dump, SNAPSHOT, size=2 * PROJECTS_PER_DOCUMENT)
               if key == "projects"]
    assert [items for _, items in batches] == [2 * PROJECTS_PER_DOCUMENT, 500]
    groups = [group for batch, _ in batches for group in batch]
    assert [len(group["projects"]) for group in groups] == [PROJECTS_PER_DOCUMENT, PROJECTS_PER_DOCUMENT, 500]
    assert all(group["snapshot_id"] == SNAPSHOT for group in groups)
    assert [group["marketplace_id"] for group in groups] == [group["projects"][0]["marketplace_id"] for group in groups]
    stored = [entry for group in groups for entry in group["projects"]]
    assert stored == [{"marketplace_id": p["id"], "user_id": p["user_id"], "services": p["services"]}
                      for p in dump["projects"]]


def test_batches_of_other_collections_count_their_documents_and_users_are_keyed():
    dump = make_dump(n_services=10, n_users=30, seed=1, extras=True)
    batches = [(key, batch, items) for key, batch, items in document_batches(dump, SNAPSHOT, size=7)]
    assert all(len(batch) == items for key, batch, items in batches if key != "projects")
    users = [user for key, batch, _ in batches if key == "users" for user in batch]
    assert [user["_id"] for user in users] == [f"{SNAPSHOT}:{u['id']}" for u in dump["users"]]
    assert users[0]["_id"] == user_key(SNAPSHOT, dump["users"][0]["id"])
    assert all("_id" not in doc for key, batch, _ in batches if key != "users" for doc in batch)


def test_ingestion_stores_projects_in_few_documents_and_counts_them_as_items(ctx):
    dump = make_dump(n_services=10, n_users=40, n_projects=2500, seed=2)
    snapshot = dumps.store_dump(dump)
    assert ingestion.ingest_snapshot(snapshot.id)["status"] == "active"
    assert ctx.projects.count_documents({"snapshot_id": snapshot.id}) == math.ceil(2500 / PROJECTS_PER_DOCUMENT)
    assert catalogue.counts(snapshot.id) == {key: len(dump[key]) for key in DUMP_COLLECTIONS}
    user = dump["users"][3]
    stored = ctx.users.find_one({"_id": f"{snapshot.id}:{user['id']}"})
    assert stored["marketplace_id"] == user["id"] and stored["aai_uid"] == user["aai_uid"]


def test_documents_stored_by_an_earlier_version_are_counted_and_deleted(ctx):
    # One document per project and users with ObjectId ids, as before projects were grouped.
    ctx.projects.insert_many([{"snapshot_id": OTHER, "marketplace_id": i, "user_id": 1, "services": [2]}
                              for i in range(1, 4)])
    ctx.users.insert_many([{"snapshot_id": OTHER, "marketplace_id": i, "aai_uid": f"u{i}@egi.eu"} for i in range(1, 3)])
    write(make_dump(n_services=5, n_users=10, n_projects=PROJECTS_PER_DOCUMENT + 1, seed=7), SNAPSHOT)
    assert count_items("projects", OTHER) == 3 and count_items("users", OTHER) == 2
    assert count_items("projects", SNAPSHOT) == PROJECTS_PER_DOCUMENT + 1
    assert delete_snapshot_documents(OTHER, size=2)
    assert count_items("projects", OTHER) == 0 and count_items("users", OTHER) == 0
    assert count_items("projects", SNAPSHOT) == PROJECTS_PER_DOCUMENT + 1 and count_items("users", SNAPSHOT) == 10


def test_users_have_no_second_unique_index(ctx):
    collection_of("users")  # (creates the declared indexes)
    indexes = ctx.users.index_information()
    assert not any(index.get("unique") for name, index in indexes.items() if name != "_id_")
    assert [("snapshot_id", 1), ("aai_uid", 1)] in [index["key"] for index in indexes.values()]


def test_a_retired_index_left_by_an_earlier_version_is_dropped(ctx):
    ctx.users.create_index([("snapshot_id", 1), ("marketplace_id", 1)], unique=True)
    assert RETIRED_INDEXES["users"] in ctx.users.index_information()
    drop_retired_indexes()
    drop_retired_indexes()  # nothing left to drop: no error
    assert RETIRED_INDEXES["users"] not in ctx.users.index_information()
    ctx.users.create_index([("snapshot_id", 1), ("marketplace_id", 1)], unique=True)
    dump = make_dump(n_services=5, n_users=10, seed=3)
    snapshot = dumps.store_dump(dump)
    assert ingestion.ingest_snapshot(snapshot.id)["status"] == "active"
    assert RETIRED_INDEXES["users"] not in ctx.users.index_information()


def test_the_served_logs_single_field_person_indexes_are_dropped_for_their_compound_ones(ctx):
    served = ctx.users.database["recommendations"]
    served.create_index("user_id")
    served.create_index("unique_id")
    ServedRecommendation.ensure_indexes()
    drop_retired_indexes()
    names = set(served.index_information())
    assert not names & {"user_id_1", "unique_id_1"}
    assert {"user_id_1_created_at_1", "unique_id_1_created_at_1"} <= names


def test_deletion_goes_range_by_range_and_spares_other_snapshots(ctx):
    dump = make_dump(n_services=30, n_users=40, n_projects=2 * PROJECTS_PER_DOCUMENT + 1, seed=4)
    write(dump, SNAPSHOT)
    write(make_dump(n_services=12, n_users=15, n_projects=20, seed=5), OTHER)
    ctx.users.insert_one({"snapshot_id": SNAPSHOT, "marketplace_id": 999_999})  # no aai_uid, ObjectId _id
    other_before = {key: count_items(key, OTHER) for key in DUMP_COLLECTIONS}

    ranges = []
    assert delete_snapshot_documents(SNAPSHOT, go_on=lambda: ranges.append(1) or True, size=7)
    assert len(ranges) > 40 / 7  # the users alone take several ranges
    assert all(collection_of(key).count_documents({"snapshot_id": SNAPSHOT}) == 0 for key in DUMP_COLLECTIONS)
    assert {key: count_items(key, OTHER) for key in DUMP_COLLECTIONS} == other_before


def test_a_deletion_stopped_by_go_on_can_be_finished_later(ctx):
    dump = make_dump(n_services=30, n_users=40, seed=6)
    write(dump, SNAPSHOT)
    assert not delete_snapshot_documents(SNAPSHOT, go_on=lambda: False, size=10)
    assert 0 < sum(count_items(key, SNAPSHOT) for key in DUMP_COLLECTIONS) < sum(
        len(dump[key]) for key in DUMP_COLLECTIONS)
    assert delete_snapshot_documents(SNAPSHOT, size=10)
    assert sum(count_items(key, SNAPSHOT) for key in DUMP_COLLECTIONS) == 0


# --- Bulk reads in bounded windows -------------------------------------------------

def test_window_bounds_cut_sorted_values_and_the_last_window_holds_the_largest():
    assert window_bounds([], size=2) == []
    assert window_bounds([7], size=2) == [7, 7]
    assert window_bounds([5, 1, 3, 3, 9, 2**63 - 1], size=2) == [1, 5, 2**63 - 1, 2**63 - 1]
    assert window_bounds(["b", "a", "c", "d"], size=2) == ["a", "c", "d"]


@pytest.fixture
def windowed(app, db, monkeypatch):
    """A snapshot of 23 services and 17 users, ingested with bounds; windows of 5 documents."""
    monkeypatch.setattr(pacing, "WINDOW_DOCS", 5)
    monkeypatch.setattr(pacing, "PACE_MAX_SECONDS", 0.0)
    dump = make_dump(n_services=23, n_users=17, seed=12)
    with app.app_context():
        snapshot = dumps.store_dump(dump, source="test")
        ingestion.ingest_snapshot(snapshot.id)
        yield snapshot.id, dump


def test_services_and_users_are_read_in_windows_bounded_on_both_sides(app, windowed):
    snapshot_id, dump = windowed
    with recorded_finds() as finds:
        services = list(catalogue.stored_services(snapshot_id, {"_id": 0, "marketplace_id": 1}))
        users = list(catalogue.stored_users(snapshot_id, {"_id": 0, "marketplace_id": 1}))
    assert sorted(s["marketplace_id"] for s in services) == sorted(s["id"] for s in dump["services"])
    assert sorted(u["marketplace_id"] for u in users) == sorted(u["id"] for u in dump["users"])
    windows = [query for _, query in finds if query.get("snapshot_id") == snapshot_id and len(query) == 2]
    ranges = [query.get("marketplace_id", query.get("aai_uid")) for query in windows]
    assert len([r for r in ranges if r is not None]) == math.ceil(23 / 5) + math.ceil(17 / 5)
    assert all(set(r) in ({"$gte", "$lt"}, {"$gte", "$lte"}) for r in ranges if r is not None), ranges
    for key, field in (("services", "marketplace_id"), ("users", "aai_uid")):
        held = [collection_of(key).count_documents(query) for query in windows if field in query]
        assert max(held) <= 5 and sum(held) == len(dump[key])


def test_a_user_without_an_aai_uid_is_read_too(app, windowed):
    snapshot_id, _ = windowed
    collection_of("users").insert_one({"_id": user_key(snapshot_id, 999_999), "snapshot_id": snapshot_id,
                                       "marketplace_id": 999_999, "aai_uid": None})
    users = {u["marketplace_id"] for u in catalogue.stored_users(snapshot_id, {"_id": 0, "marketplace_id": 1})}
    assert 999_999 in users and len(users) == 18


def test_a_snapshot_stored_without_bounds_is_read_whole_once_then_in_windows(app, windowed):
    snapshot_id, dump = windowed
    DatasetSnapshot.objects(id=snapshot_id).update_one(unset__read_bounds=True)
    first = list(catalogue.stored_services(snapshot_id, {"_id": 0, "snapshot_id": 0}))  # an exclusion projection
    assert len(first) == 23
    kept = DatasetSnapshot.objects.get(id=snapshot_id).read_bounds
    assert kept == {"services": window_bounds([s["id"] for s in dump["services"]], size=5)}
    assert sorted(s["marketplace_id"] for s in catalogue.stored_services(snapshot_id, {"_id": 0})) == sorted(
        s["marketplace_id"] for s in first)
