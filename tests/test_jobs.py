from datetime import timedelta

import pytest

from app import jobs, tasks
from app.errors import BrokerUnavailable, JobNotFound
from app.storage.jobs import Job, utcnow


def test_an_unknown_job_is_not_found(app, db):
    with app.app_context(), pytest.raises(JobNotFound):
        jobs.job_status("no-such-job")


def test_a_job_with_an_active_key_is_not_started_twice(app, db):
    with app.app_context():
        Job(id="running-1", name="marketrec.selfcheck", key="snapshot-7", state="STARTED").save()
        assert jobs.start_job(tasks.selfcheck, key="snapshot-7").id == "running-1"
        assert Job.objects(key="snapshot-7").count() == 1


def test_finished_state_comes_from_the_record(app, db):
    with app.app_context():
        Job(id="done-1", name="marketrec.selfcheck", state="FAILURE", error="boom", finished_at=utcnow()).save()
        status = jobs.job_status("done-1")
        assert status["state"] == "FAILURE" and status["error"] == "boom"


def test_prune_keeps_recent_and_active_jobs(app, db):
    old = utcnow() - timedelta(days=40)
    with app.app_context():
        Job(id="old", name="t", state="SUCCESS", finished_at=old).save()
        Job(id="recent", name="t", state="SUCCESS", finished_at=utcnow()).save()
        Job(id="active", name="t", state="STARTED").save()
        assert jobs.prune_finished(30) == 1
        assert sorted(Job.objects.values_list("id")) == ["active", "recent"]


def test_an_unreachable_broker_fails_the_job_and_says_so(app, settings, db):
    from app import create_app

    broken = create_app(settings | {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})
    app.extensions["celery"].set_default()  # other tests keep the working app
    broken.extensions["celery"].conf.task_publish_retry = False
    with broken.app_context(), pytest.raises(BrokerUnavailable):
        jobs.start_job(tasks.selfcheck)
    # The record says why instead of staying PENDING forever.
    with broken.app_context():
        (job,) = Job.objects(name="marketrec.selfcheck")
        assert job.state == "FAILURE" and "not enqueued" in job.error


def test_a_result_ahead_of_the_record_still_reports_when_the_job_ran(app, db):
    """The worker stores the result before it updates the record: a status read in between
    says SUCCESS with the result, its start from the record and its end from the backend."""
    with app.app_context():
        started = utcnow()
        Job(id="racing-1", name="marketrec.selfcheck", state="STARTED", started_at=started).save()
        app.extensions["celery"].backend.store_result("racing-1", {"database": "ok"}, "SUCCESS")
        status = jobs.job_status("racing-1")
        assert status["state"] == "SUCCESS" and status["result"] == {"database": "ok"}
        assert status["started_at"] is not None and status["finished_at"] is not None
        Job.objects(id="racing-1").update(state="SUCCESS", result={"database": "ok"}, finished_at=utcnow())
        assert jobs.job_status("racing-1")["finished_at"] >= started
