"""GET /datasets and /datasets/<id>: snapshots, latest received first, which one is active."""
import pytest

from app.marketplace import dumps, ingestion
from tests.fixtures.dumps import make_dump


@pytest.fixture
def three_snapshots(app, db):
    """Three dumps received in order: the first was active, the second replaced it,
    the third failed."""
    with app.app_context():
        first = dumps.store_dump(make_dump(n_services=10, n_users=20, seed=31))
        ingestion.ingest_snapshot(first.id)
        second = dumps.store_dump(make_dump(n_services=10, n_users=20, seed=32))
        third = dumps.store_dump(make_dump(n_services=10, n_users=20, seed=33))
        third.update(status="failed", error="RuntimeError: boom")  # a failed dump does not block older ones
        ingestion.ingest_snapshot(second.id)
        return first.id, second.id, third.id


def test_datasets_are_listed_latest_first_with_counts_status_and_the_active_one(client, three_snapshots):
    first, second, third = three_snapshots
    body = client.get("/datasets").get_json()
    assert body["active_snapshot_id"] == second
    listed = body["datasets"]
    assert [d["id"] for d in listed] == [third, second, first]
    assert [d["status"] for d in listed] == ["failed", "active", "superseded"]
    assert [d["active"] for d in listed] == [False, True, False]
    assert listed[1]["counts"]["users"] == 20 and listed[1]["counts"]["services"] == 10
    assert listed[0]["error"] == "RuntimeError: boom"
    assert listed[1]["created_at"] and listed[1]["activated_at"] and listed[1]["checksum"]


def test_the_listing_is_limited_on_request(client, three_snapshots):
    assert len(client.get("/datasets?limit=2").get_json()["datasets"]) == 2


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=many"])
def test_a_bad_limit_is_a_400_naming_it(client, db, query):
    response = client.get(f"/datasets?{query}")
    assert response.status_code == 400
    assert "limit" in response.get_json()["errors"]


def test_one_dataset_shows_its_problems(client, app, db):
    dump = make_dump(n_services=10, n_users=20, seed=34)
    dump["projects"][3]["services"].append(424242)
    with app.app_context():
        snapshot = dumps.store_dump(dump)
        ingestion.ingest_snapshot(snapshot.id)
    body = client.get(f"/datasets/{snapshot.id}").get_json()
    assert body["id"] == snapshot.id and body["active"] is True
    assert body["problem_counts"] == {"projects/services": 1}
    assert body["problems"]["projects/services"]["examples"] == [{"id": dump["projects"][3]["id"], "missing": 424242}]


def test_an_unknown_dataset_is_a_404_in_the_error_shape(client, db):
    response = client.get("/datasets/no-such-snapshot")
    assert response.status_code == 404
    assert response.get_json() == {
        "message": "no dataset snapshot no-such-snapshot", "errors": {"snapshot_id": "unknown dataset snapshot"},
    }


def test_no_datasets_yet_is_an_empty_list(client, db):
    assert client.get("/datasets").get_json() == {"active_snapshot_id": None, "datasets": []}
