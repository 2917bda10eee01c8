"""POST /update: a full dump in, 202 and a job out; a real worker ingests and switches."""
import json
import time

import pytest

from app import create_app
from app.marketplace import catalogue
from app.storage.jobs import FINISHED_STATES, Job
from app.storage.marketplace import DUMP_COLLECTIONS
from tests.fixtures.dumps import make_dump

FINISHED = ("SUCCESS", "FAILURE", "REVOKED")


def wait_for_job(client, job_id: str, timeout: float = 180.0, until=FINISHED) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job_id}").get_json()
        if status["state"] in until:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {status['state']} after {timeout} s")


@pytest.fixture
def worker_settled(db, worker):
    """A switched snapshot queues pruning and retraining (app.tasks.ingest_dump). The test waits
    for them at its end, so they cannot write (a model version, say) into the next test's
    emptied database."""
    yield worker
    deadline = time.monotonic() + 180
    while Job.objects(state__nin=FINISHED_STATES).count() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Job.objects(state__nin=FINISHED_STATES).count(), "jobs still running after 180 s"


def post_dump(client, dump: dict):
    return client.post("/update", json=dump)


def counts_of(dump: dict) -> dict:
    return {key: len(dump[key]) for key in DUMP_COLLECTIONS}


def test_an_eosc_dump_with_extra_keys_is_accepted_ingested_and_switched(client, db, worker_settled):
    dump = make_dump(n_services=40, n_users=150, seed=21, extras=True)
    response = post_dump(client, dump)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job_id"]
    assert response.headers["Location"].endswith(f"/jobs/{job_id}")
    job = wait_for_job(client, job_id)
    assert job["state"] == "SUCCESS", job
    assert job["result"]["status"] == "active"
    snapshot_id = job["result"]["snapshot_id"]
    detail = client.get(f"/datasets/{snapshot_id}").get_json()
    assert detail["active"] is True and detail["status"] == "active"
    assert detail["counts"] == counts_of(dump) and detail["problems"] == {}
    assert detail["training_requested_at"]


def test_the_same_dump_posted_twice_makes_one_snapshot(client, db, worker_settled):
    dump = make_dump(n_services=20, n_users=60, seed=22)
    first = wait_for_job(client, post_dump(client, dump).get_json()["job_id"])
    second = wait_for_job(client, post_dump(client, dump).get_json()["job_id"])
    assert first["result"]["status"] == "active" and second["result"]["status"] == "unchanged"
    assert second["result"]["snapshot_id"] == first["result"]["snapshot_id"]
    assert len(client.get("/datasets").get_json()["datasets"]) == 1
    assert db["dumps.files"].count_documents({}) == 1


def test_two_dumps_back_to_back_end_with_the_later_one_active_and_never_mixed(client, db, worker_settled):
    earlier_dump = make_dump(n_services=100, n_users=5000, n_projects=10000, seed=23)
    later_dump = make_dump(n_services=80, n_users=300, seed=24)
    earlier = post_dump(client, earlier_dump).get_json()["job_id"]
    wait_for_job(client, earlier, until=("PROGRESS",) + FINISHED)  # the first one is ingesting
    later = post_dump(client, later_dump).get_json()["job_id"]
    earlier_job, later_job = wait_for_job(client, earlier), wait_for_job(client, later)
    assert earlier_job["state"] == later_job["state"] == "SUCCESS", (earlier_job, later_job)
    # Usually the earlier one notices the later one between batches and gives up; if
    # it was already switching, it was active for a moment and then replaced.
    assert earlier_job["result"]["status"] in ("superseded", "active")
    assert later_job["result"]["status"] == "active"
    listing = client.get("/datasets").get_json()
    later_id = later_job["result"]["snapshot_id"]
    assert listing["active_snapshot_id"] == later_id
    assert [d["id"] for d in listing["datasets"]] == [later_id, earlier_job["result"]["snapshot_id"]]
    # Every document of the active snapshot comes from the later dump, all of them.
    with client.application.app_context():
        assert catalogue.counts(later_id) == counts_of(later_dump)
        served = {s["marketplace_id"] for s in catalogue.recommendable_services()}
    assert served == {s["id"] for s in later_dump["services"] if s["status"] in ("published", "unverified")}


@pytest.mark.parametrize("break_it, path", [
    (lambda d: d.pop("services"), "services"),
    (lambda d: d["services"][0].__setitem__("id", "12"), "services.0.id"),
    (lambda d: d["users"][1].__setitem__("categories", {"$in": [1]}), "users.1.categories"),
    (lambda d: d["projects"][0].__setitem__("user_id", {"$gt": 0}), "projects.0.user_id"),
    (lambda d: d["providers"][0].__setitem__("name", None), "providers.0.name"),
], ids=["missing key", "string id", "operator object for a list", "operator object for an id", "null name"])
def test_an_invalid_dump_is_a_400_naming_the_field_and_stores_nothing(client, db, break_it, path):
    dump = make_dump(n_services=10, n_users=20, seed=25)
    break_it(dump)
    response = post_dump(client, dump)
    body = response.get_json()
    assert response.status_code == 400, body
    assert path in body["errors"], body
    assert db["dumps.files"].count_documents({}) == 0 and db.dataset_snapshots.count_documents({}) == 0
    assert db.jobs.count_documents({}) == 0


@pytest.mark.parametrize("body, content_type, status", [
    ("{not json", "application/json", 400),
    ("[]", "application/json", 400),
    ("null", "application/json", 400),
    (json.dumps(make_dump(n_services=3, n_users=3)), "text/plain", 415),
], ids=["malformed", "array", "null", "not json content type"])
def test_a_body_that_is_not_a_dump_object_is_a_4xx_in_the_error_shape(client, db, body, content_type, status):
    response = client.post("/update", data=body, content_type=content_type)
    assert response.status_code == status
    assert set(response.get_json()) == {"message", "errors"} and response.get_json()["errors"]
    assert db.dataset_snapshots.count_documents({}) == 0


def test_a_dump_over_the_size_limit_is_a_413(app, settings, db):
    small = create_app(settings | {"MAX_DUMP_BYTES": 2000})
    app.extensions["celery"].set_default()  # other tests keep the usual app
    response = small.test_client().post("/update", json=make_dump(n_services=10, n_users=20))
    assert response.status_code == 413 and response.get_json()["errors"]
    assert db.dataset_snapshots.count_documents({}) == 0


def test_posting_a_dump_needs_a_token_when_tokens_are_configured(app, settings, db):
    guarded = create_app(settings | {"API_TOKENS": ["secret-token"]})
    app.extensions["celery"].set_default()
    response = guarded.test_client().post("/update", json=make_dump(n_services=3, n_users=3))
    assert response.status_code == 401
    assert db.dataset_snapshots.count_documents({}) == 0
