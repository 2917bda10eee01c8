"""When NCF is trained again, and when beat's refits of Popularity and Session are
skipped: counted from the last attempt on the active snapshot, so a rejected or failed
run is not repeated on the same data every check."""
from datetime import timedelta

import pytest

from app import model_registry
from app.marketplace import dumps, ingestion
from app.marketplace.events import store_events
from app.pipelines.interaction_models import fit_interaction_models
from app.pipelines.retraining import reason_to_retrain
from app.queues import TRAIN_NCF
from app.storage.jobs import Job, utcnow
from app.storage.models import ModelVersion
from tests.fixtures.dumps import make_dump
from tests.fixtures.journeys import wire_time

THRESHOLD = 5


@pytest.fixture
def marketplace(app, db):
    """An active snapshot; retraining due after THRESHOLD new interactions."""
    previous = app.config["RETRAIN_AFTER_INTERACTIONS"]
    app.config["RETRAIN_AFTER_INTERACTIONS"] = THRESHOLD
    with app.app_context():
        snapshot = dumps.store_dump(make_dump(n_services=30, n_users=20, seed=4), source="test")
        ingestion.ingest_snapshot(snapshot.id)
    yield snapshot.id
    app.config["RETRAIN_AFTER_INTERACTIONS"] = previous


def interactions(count: int, minutes_ago: float = 0) -> None:
    at = utcnow() - timedelta(minutes=minutes_ago)
    store_events([{"unique_id": f"00000000-0000-4000-8000-{n:012d}", "service_id": 1, "type": "view",
                   "timestamp": wire_time(at + timedelta(milliseconds=n))} for n in range(count)])


def ncf_version(dataset_id: str, status: str, minutes_ago: float = 0) -> ModelVersion:
    version = model_registry.register("NCF", {}, {}, dataset_id=dataset_id, metrics={})
    version.update(status=status, created_at=utcnow() - timedelta(minutes=minutes_ago))
    return version


def ncf_job(state: str, minutes_ago: float = 0) -> Job:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return Job(id=f"job-{state}", name=TRAIN_NCF, state=state, created_at=at, started_at=at).save()


def test_a_snapshot_without_any_ncf_run_is_due(app, marketplace):
    with app.app_context():
        assert reason_to_retrain() == "no active NCF version"
        ncf_version("another-snapshot", "active", minutes_ago=5)
        assert reason_to_retrain() == f"trained on another-snapshot, the active snapshot is {marketplace}"


def test_a_rejected_run_is_not_repeated_until_enough_new_interactions_arrive(app, marketplace):
    with app.app_context():
        ncf_version("another-snapshot", "active", minutes_ago=60)
        ncf_version(marketplace, "rejected", minutes_ago=1)
        interactions(THRESHOLD - 1)
        assert reason_to_retrain() is None
        interactions(1)
        assert reason_to_retrain() == f"{THRESHOLD} new interactions since the last run on the active snapshot"


def test_interactions_before_the_last_run_do_not_count(app, marketplace):
    with app.app_context():
        interactions(THRESHOLD, minutes_ago=10)
        ncf_version(marketplace, "active", minutes_ago=5)
        assert reason_to_retrain() is None


def test_nothing_is_due_while_an_ncf_job_is_queued_or_running(app, marketplace):
    with app.app_context():
        for state in ("PENDING", "STARTED"):
            Job.objects.delete()
            ncf_job(state)
            assert reason_to_retrain() is None
        Job.objects.delete()
        assert reason_to_retrain() == "no active NCF version"


@pytest.mark.parametrize("state", ["FAILURE", "SUCCESS"])  # SUCCESS without a version: skipped, too little data
def test_a_run_that_failed_or_was_skipped_on_this_snapshot_waits_for_new_data_too(app, marketplace, state):
    with app.app_context():
        ncf_job(state, minutes_ago=0)
        assert reason_to_retrain() is None
        interactions(THRESHOLD)
        assert reason_to_retrain() is not None


def test_a_failure_before_the_snapshot_was_active_does_not_count(app, marketplace):
    with app.app_context():
        ncf_job("FAILURE", minutes_ago=60)
        assert reason_to_retrain() == "no active NCF version"


def test_a_run_older_than_the_age_limit_is_due(app, marketplace):
    with app.app_context():
        ncf_version(marketplace, "active", minutes_ago=app.config["RETRAIN_AFTER_SECONDS"] / 60 + 1)
        assert reason_to_retrain() == "the last run on the active snapshot is older than RETRAIN_AFTER_SECONDS"


def test_a_scheduled_refit_is_skipped_when_it_would_repeat_the_last_fit(app, marketplace):
    with app.app_context():
        interactions(3, minutes_ago=app.config["INTERACTION_MODELS_REFRESH_SECONDS"] / 60 + 5)
        first = fit_interaction_models(scheduled=True)
        assert first["status"] == "done"
        again = fit_interaction_models(scheduled=True)
        assert again == {"status": "skipped", "snapshot_id": marketplace,
                         "reason": f"fitted on this snapshot less than "
                                   f"{app.config['INTERACTION_MODELS_REFRESH_SECONDS'] / 2:.0f} s ago"}
        assert fit_interaction_models()["status"] == "done"  # asked for, not scheduled: fitted

        refresh = app.config["INTERACTION_MODELS_REFRESH_SECONDS"]
        ModelVersion.objects(engine="Popularity").update(created_at=utcnow() - timedelta(seconds=refresh))
        assert fit_interaction_models(scheduled=True)["reason"] == "no interaction arrived since the last fit"
        interactions(1)
        assert fit_interaction_models(scheduled=True)["status"] == "done"
