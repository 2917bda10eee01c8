"""A job whose broker message was lost (Redis restarted empty), or whose process was killed
(its heartbeat stopped), is enqueued again from its record, or failed with the reason; a
job whose message is there, or whose heartbeat goes on, is left alone."""
import base64
import json
import time
from datetime import timedelta

import pytest
import redis

from app import create_app, jobs, lost_jobs, tasks
from app.storage.jobs import Job, utcnow
from devstack import services

NOTHING = {"requeued": [], "failed": [], "ended": [], "missing": []}


@pytest.fixture
def broker(settings, db):
    """An app whose broker is a Redis database no worker reads: its messages stay put."""
    url = settings["REDIS_URL"].rsplit("/", 1)[0] + "/5"
    client = redis.Redis.from_url(url)
    client.flushdb()
    app = create_app({**settings, "CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url})
    with app.app_context():
        yield client
    client.flushdb()


def queued_ids(client) -> str:
    return "\n".join(m.decode() for m in client.lrange("default", 0, -1))


def waiting_job(job_id: str, args=(), name: str = tasks.selfcheck.name, **fields) -> Job:
    created = utcnow() - timedelta(seconds=lost_jobs.PENDING_GRACE_SECONDS + 1)
    return Job(id=job_id, name=name, args=list(args), created_at=created, **fields).save()


def later() -> timedelta:
    return timedelta(seconds=lost_jobs.confirmation_seconds())


def test_a_lost_job_is_enqueued_again_after_two_looks(broker):
    waiting_job("lost-1")
    now = utcnow()
    assert lost_jobs.recover_lost_jobs(now)["missing"] == ["lost-1"]
    assert lost_jobs.recover_lost_jobs(now + later() / 2)["requeued"] == []  # not yet: it may be in a worker's hands
    assert lost_jobs.recover_lost_jobs(now + later())["requeued"] == ["lost-1"]
    assert "lost-1" in queued_ids(broker)
    record = Job.objects.get(id="lost-1")
    assert record.state == "PENDING" and record.requeued == 1 and record.missing_since is None
    # Its message is there now: nothing more happens to it.
    assert lost_jobs.recover_lost_jobs(now + 3 * later()) == NOTHING


def test_a_job_whose_message_is_held_is_left_alone(broker):
    job = jobs.start_job(tasks.selfcheck)
    Job.objects(id=job.id).update(created_at=utcnow() - timedelta(minutes=5))
    for seconds in (0, 60, 120):
        assert lost_jobs.recover_lost_jobs(utcnow() + timedelta(seconds=seconds))["missing"] == []
    # ... also once a worker took it and has not acknowledged it yet (kombu's `unacked` hash).
    message = broker.rpop("default")
    broker.hset("unacked", "tag-1", b'[' + message + b', "default", "default"]')
    for seconds in (0, 60):
        assert lost_jobs.recover_lost_jobs(utcnow() + timedelta(seconds=seconds))["missing"] == []
    assert Job.objects.get(id=job.id).state == "PENDING"


def test_a_job_lost_too_often_or_without_its_arguments_is_failed_with_the_reason(broker):
    waiting_job("lost-again", requeued=lost_jobs.MAX_REQUEUES)
    Job(id="old-record", name=tasks.selfcheck.name, created_at=utcnow() - timedelta(minutes=5)).save()
    now = utcnow()
    lost_jobs.recover_lost_jobs(now)
    assert sorted(lost_jobs.recover_lost_jobs(now + later())["failed"]) == ["lost-again", "old-record"]
    assert "enqueued again 3 times already" in Job.objects.get(id="lost-again").error
    assert "does not say its arguments" in Job.objects.get(id="old-record").error
    assert {job.state for job in Job.objects} == {"FAILURE"}
    assert queued_ids(broker) == ""


def test_young_and_started_jobs_are_not_looked_at(broker):
    Job(id="young", name=tasks.selfcheck.name, args=[]).save()
    waiting_job("started", state="STARTED", heartbeat_at=utcnow())
    now = utcnow()
    for seconds in (0, lost_jobs.PENDING_GRACE_SECONDS - 5):
        assert lost_jobs.recover_lost_jobs(now + timedelta(seconds=seconds)) == NOTHING


def test_a_started_job_records_its_arguments(broker):
    job = jobs.start_job(tasks.run_ncf_training, "snapshot-9")
    assert Job.objects.get(id=job.id).args == ["snapshot-9"]


def silent_job(job_id: str, silent_seconds: float) -> Job:
    return waiting_job(job_id, args=["snapshot-1"], name=tasks.ingest_dump.name, state="STARTED",
                       heartbeat_at=utcnow() - timedelta(seconds=silent_seconds))


def test_a_job_whose_process_went_silent_is_run_again_and_its_old_message_dropped(broker):
    silent_job("killed", 3600)
    # The killed run's message, delivered and never acknowledged: the visibility timeout would run it again.
    broker.hset("unacked", "tag-killed", '[{"headers": {"id": "killed"}}, "default", "default"]')
    broker.zadd("unacked_index", {"tag-killed": 1.0})
    now = utcnow()
    assert lost_jobs.recover_lost_jobs(now)["missing"] == ["killed"]
    assert lost_jobs.recover_lost_jobs(now + later())["requeued"] == ["killed"]
    record = Job.objects.get(id="killed")
    assert (record.state, record.requeued) == ("PENDING", 1)
    assert broker.hlen("unacked") == 0 and broker.zcard("unacked_index") == 0
    message = json.loads(broker.lindex("default", 0))
    assert message["headers"]["id"] == "killed"
    assert json.loads(base64.b64decode(message["body"]))[0] == ["snapshot-1"]  # (args, kwargs, embed)


def test_a_heartbeat_between_the_two_looks_keeps_the_job(broker):
    silent_job("slow", 3600)
    now = utcnow()
    lost_jobs.recover_lost_jobs(now)
    Job.objects(id="slow").update(heartbeat_at=now, unset__missing_since=True)  # what job_signals' thread writes
    assert lost_jobs.recover_lost_jobs(now + later()) == NOTHING
    assert Job.objects.get(id="slow").state == "STARTED"


def test_a_silent_job_the_backend_saw_end_is_recorded_with_that_end(broker):
    silent_job("timed-out", 3600)
    backend = broker_app_backend()
    backend.mark_as_failure("timed-out", TimeoutError("hard time limit (600 s) exceeded"))
    now = utcnow()
    lost_jobs.recover_lost_jobs(now)
    assert lost_jobs.recover_lost_jobs(now + later())["ended"] == ["timed-out"]
    record = Job.objects.get(id="timed-out")
    assert record.state == "FAILURE" and "hard time limit" in record.error and not record.requeued


def broker_app_backend():
    from flask import current_app

    return current_app.extensions["celery"].backend


def test_a_killed_job_s_writer_lease_is_released_for_its_next_run(broker):
    from app.storage.jobs import running_job
    from app.storage.snapshots import DatasetWriterLease, WriterLease

    silent_job("killed-ingestion", 3600)
    token = running_job.set("killed-ingestion")
    try:
        assert WriterLease("ingest:snapshot-1").acquire(give_up=lambda: False)
    finally:
        running_job.reset(token)
    assert DatasetWriterLease.objects.get().job_id == "killed-ingestion"
    now = utcnow()
    lost_jobs.recover_lost_jobs(now)
    assert DatasetWriterLease.objects.count() == 1  # one look is not enough to call it dead
    assert lost_jobs.recover_lost_jobs(now + later())["requeued"] == ["killed-ingestion"]
    assert DatasetWriterLease.objects.count() == 0


def test_a_job_delivered_to_a_worker_that_is_gone_is_enqueued_again(broker, settings):
    """Its message sits in the `unacked` hash (its worker lost the broker in a failover before it
    could put it back) and no live worker holds it: it runs again, not after the visibility timeout."""
    from tests.api.test_fuzzing import start_worker

    job = jobs.start_job(tasks.selfcheck)
    Job.objects(id=job.id).update(created_at=utcnow() - timedelta(minutes=5))
    message = broker.rpop("default")
    broker.hset("unacked", "tag-gone", b'[' + message + b', "default", "default"]')
    broker.zadd("unacked_index", {"tag-gone": utcnow().timestamp()})
    url = broker.connection_pool.connection_kwargs
    worker_url = f"redis://{url['host']}:{url['port']}/{url['db']}"
    worker = start_worker({**settings, "CELERY_BROKER_URL": worker_url, "CELERY_RESULT_BACKEND": worker_url},
                          "worker-lost-jobs-unacked.log")
    try:
        now = utcnow()
        assert lost_jobs.recover_lost_jobs(now)["missing"] == [job.id]
        assert lost_jobs.recover_lost_jobs(now + later())["requeued"] == [job.id]
        assert broker.hget("unacked", "tag-gone") is None  # so the visibility timeout does not run it again
        deadline = utcnow() + timedelta(seconds=60)
        while Job.objects.get(id=job.id).state != "SUCCESS" and utcnow() < deadline:
            time.sleep(0.5)
        assert Job.objects.get(id=job.id).state == "SUCCESS"
    finally:
        services.stop(worker)
