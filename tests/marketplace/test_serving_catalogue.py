"""The serving catalogue: what API workers load of a snapshot, written at ingestion, the same
as what its collections hold."""
import numpy as np
import pytest

from app.dump_contract import RECOMMENDABLE_STATUSES
from app.marketplace import catalogue, dumps, ingestion, serving_catalogue
from app.recommendations.serving_state import DumpUsers, _snapshot_parts
from app.storage.raw_dumps import raw_dump
from app.storage.snapshots import DatasetSnapshot
from tests.fixtures.dumps import make_dump
from tests.fixtures.mongo_commands import recorded_finds

DUMP = make_dump(n_services=40, n_users=30, seed=21)
DUMP["services"][3]["status"] = "deleted"  # not recommendable: left out of the catalogue
RECOMMENDABLE = sum(service["status"] in RECOMMENDABLE_STATUSES for service in DUMP["services"])


@pytest.fixture
def snapshot_id(app, db):
    with app.app_context():
        snapshot = dumps.store_dump(DUMP, source="test")
        ingestion.ingest_snapshot(snapshot.id)
        yield snapshot.id


def same_users(first: DumpUsers, second: DumpUsers) -> bool:
    return np.array_equal(first.ids, second.ids) and all(
        np.array_equal(first.columns[name][part], second.columns[name][part])
        for name in DumpUsers.FIELDS for part in (0, 1))


def test_ingestion_writes_what_the_collections_hold(snapshot_id, db):
    loaded = serving_catalogue.load(snapshot_id)
    assert DatasetSnapshot.objects.get(id=snapshot_id).serving_file_id is not None
    assert loaded["services"] == catalogue.recommendable_services(snapshot_id)
    assert 0 < len(loaded["services"]) == RECOMMENDABLE < 40
    names = {c["marketplace_id"]: c["name"] for c in db.categories.find({"snapshot_id": snapshot_id})}
    assert loaded["categories"] == names
    from_columns = DumpUsers.from_columns(loaded["users"])
    assert same_users(from_columns, DumpUsers.of_snapshot(snapshot_id)) and from_columns.ids.size == 30
    user = int(from_columns.ids[4])
    assert from_columns.features(user) == DumpUsers.of_snapshot(snapshot_id).features(user)


def test_the_serving_state_is_built_from_the_file_without_reading_services_or_users(app, snapshot_id):
    with recorded_finds() as recorded:
        catalogue_index, names, users = _snapshot_parts(snapshot_id)
    finds = [collection for collection, _ in recorded]
    assert "serving_catalogues.chunks" in finds
    assert "services" not in finds and "users" not in finds and "categories" not in finds
    assert len(catalogue_index) == RECOMMENDABLE and names and users.ids.size == 30


def test_a_snapshot_without_a_file_is_served_from_its_collections(app, snapshot_id):
    from_file = _snapshot_parts(snapshot_id)
    serving_catalogue.delete(snapshot_id)
    assert serving_catalogue.load(snapshot_id) is None
    from_collections = _snapshot_parts(snapshot_id)
    assert list(from_collections[0].ids) == list(from_file[0].ids)
    assert from_collections[0].postings.keys() == from_file[0].postings.keys()
    assert from_collections[1] == from_file[1] and same_users(from_collections[2], from_file[2])


def test_a_file_of_another_snapshot_or_format_is_not_served(app, snapshot_id):
    raw = serving_catalogue.read_raw(snapshot_id)
    assert serving_catalogue.decode(raw, snapshot_id) is not None
    assert serving_catalogue.decode(raw, "20240101-000000-0000ffff") is None


def test_writing_again_replaces_the_file(app, snapshot_id, db):
    first = DatasetSnapshot.objects.get(id=snapshot_id).serving_file_id
    second = serving_catalogue.write(snapshot_id, raw_dump(snapshot_id))
    assert second != first and DatasetSnapshot.objects.get(id=snapshot_id).serving_file_id == second
    assert db["serving_catalogues.files"].count_documents({"metadata.snapshot_id": snapshot_id}) == 1
