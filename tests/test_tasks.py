"""Tasks whose subject is gone (a snapshot deleted, the database reset under a queue that kept
its messages) end at once in a real worker: no retry, no traceback, and the job says why."""
import time

import pytest
from mongoengine import DoesNotExist

from app import jobs, tasks
from app.errors import NotFound
from app.marketplace import dumps, ingestion
from app.storage import raw_dumps
from app.storage.snapshots import DatasetSnapshot
from tests.api.test_update import wait_for_job
from tests.conftest import LOGS
from tests.fixtures.dumps import make_dump
from tests.fixtures.stack import wait_until

WORKER_LOG = LOGS / "worker.log"



class WorkerLog:
    """What the worker logged from now on."""

    def __init__(self):
        self.start = WORKER_LOG.stat().st_size if WORKER_LOG.exists() else 0

    def since(self) -> str:
        with open(WORKER_LOG, "rb") as log:
            log.seek(self.start)
            return log.read().decode(errors="replace")

    def lines_about(self, job_id: str) -> list[str]:
        return [line for line in self.since().splitlines() if job_id in line]


def assert_ended_cleanly(worker_log: WorkerLog, job_id: str, reason: str) -> None:
    deadline = time.monotonic() + 5  # the worker's log line may land just after the record
    while not any("skipped" in line for line in worker_log.lines_about(job_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = worker_log.lines_about(job_id)
    warnings = [line for line in lines if '"level": "warning"' in line and reason in line]
    assert len(warnings) == 1, lines
    assert not any("Traceback" in line or "DoesNotExist" in line or "retry" in line.lower() for line in lines), lines
    assert "Traceback" not in worker_log.since()


def deleted_snapshot(app) -> str:
    """A snapshot that was ingested and active, then deleted with its raw dump (as `make clean` does)."""
    with app.app_context():
        snapshot = dumps.store_dump(make_dump(n_services=20, n_users=20, seed=8))
        ingestion.ingest_snapshot(snapshot.id)
        raw_dumps.bucket().delete(snapshot.dump_file_id)
        DatasetSnapshot.objects(id=snapshot.id).delete()
    return snapshot.id


def test_an_ingestion_of_a_snapshot_that_no_longer_exists_is_skipped_and_says_why(app, client, db, worker):
    worker_log = WorkerLog()
    with app.app_context():
        job_id = jobs.start_job(tasks.ingest_dump, "20261206-000000-deadbeef").id
    job = wait_for_job(client, job_id)
    reason = "dataset snapshot 20261206-000000-deadbeef no longer exists"
    assert job["state"] == "SUCCESS" and job["error"] is None
    assert job["result"] == {"status": "skipped", "reason": reason, "snapshot_id": "20261206-000000-deadbeef"}
    # The record too, not only the backend (the worker writes it just after the backend's result).
    assert wait_until(lambda: (db.jobs.find_one({"_id": job_id})["result"] or {}).get("reason") == reason, 10)
    assert_ended_cleanly(worker_log, job_id, reason)


@pytest.mark.parametrize("engine", ["interaction_models", "ncf", "rl"])
def test_training_on_a_deleted_snapshot_is_skipped_and_says_why(app, client, db, worker, engine):
    snapshot_id = deleted_snapshot(app)
    worker_log = WorkerLog()
    with app.app_context():
        job_id = tasks.start_training(engine, snapshot_id).id
    job = wait_for_job(client, job_id)
    reason = f"dataset snapshot {snapshot_id} no longer exists"
    assert job["state"] == "SUCCESS", job
    assert job["result"]["status"] == "skipped" and job["result"]["reason"] == reason
    assert db.model_versions.count_documents({}) == 0
    assert_ended_cleanly(worker_log, job_id, reason)


def test_a_queued_task_without_a_job_record_ends_cleanly_too(app, db, worker):
    """After the database is reset, a message the broker kept has neither its job record nor its snapshot."""
    worker_log = WorkerLog()
    with app.app_context():
        celery = app.extensions["celery"]
        queued = celery.tasks[tasks.ingest_dump.name].apply_async(args=["20261206-000000-0badf00d"])
        result = queued.get(timeout=60)
    assert result["status"] == "skipped" and "0badf00d no longer exists" in result["reason"]
    assert db.jobs.count_documents({}) == 0
    assert_ended_cleanly(worker_log, queued.id, "0badf00d no longer exists")


def test_the_reason_names_what_is_gone(app, db):
    with app.app_context():
        snapshot = dumps.store_dump(make_dump(n_services=5, n_users=5, seed=9))
        # The snapshot is there: the reason is the missing thing itself.
        missing_model = NotFound("no model version 65f0c0ffee", {"model_id": "unknown model version"})
        assert tasks.gone_reason(missing_model, snapshot.id) == (
            "something it needs no longer exists: no model version 65f0c0ffee")
        assert tasks.gone_reason(DoesNotExist("ModelVersion matching query does not exist."), snapshot.id) == (
            "something it needs no longer exists: ModelVersion matching query does not exist.")
        # A generic lookup failed, and it was the job's snapshot that went away.
        DatasetSnapshot.objects(id=snapshot.id).delete()
        assert tasks.gone_reason(DoesNotExist("DatasetSnapshot matching query does not exist."), snapshot.id) == (
            f"dataset snapshot {snapshot.id} no longer exists")


@pytest.mark.parametrize("engine, reason", [("ncf", "too little data to train NCF (users: 0 < "),
                                            ("rl", "no users to simulate visitors from (users: none in the snapshot)")])
def test_training_on_a_marketplace_without_users_is_skipped_and_says_why(app, client, db, worker, engine, reason):
    """Anonymous marketplaces send dumps without users: NCF has nothing to learn from and the RL
    simulator nobody to play, which is no failure (the Open Bandit replay's dump is one)."""
    with app.app_context():
        snapshot = dumps.store_dump(make_dump(n_services=20, n_users=0, seed=10))
        ingestion.ingest_snapshot(snapshot.id)
    worker_log = WorkerLog()
    with app.app_context():
        job_id = tasks.start_training(engine, snapshot.id).id
    job = wait_for_job(client, job_id)
    assert job["state"] == "SUCCESS", job
    assert job["result"]["status"] == "skipped"
    assert job["result"]["reason"].startswith(reason), job["result"]
    assert db.model_versions.count_documents({}) == 0
    assert_ended_cleanly(worker_log, job_id, reason.split(" (")[0])
