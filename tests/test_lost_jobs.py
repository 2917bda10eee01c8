"""A job whose broker message was lost (Redis restarted empty) is enqueued again from its
record, or failed with the reason; a job whose message is there is left alone."""
from datetime import timedelta

import pytest
import redis

from app import create_app, jobs, lost_jobs, tasks
from app.storage.jobs import Job, utcnow

LATER = timedelta(seconds=lost_jobs.LOST_CONFIRM_SECONDS)


@pytest.fixture
def broker(settings, db):
    """An app whose broker is a Redis database no worker reads: its messages stay put."""
    url = settings["REDIS_URL"].rsplit("/", 1)[0] + "/5"
    client = redis.Redis.from_url(url)
    client.flushdb()
    app = create_app({**settings, "CELERY_BROKER_URL": url})
    with app.app_context():
        yield client
    client.flushdb()


def queued_ids(client) -> str:
    return "\n".join(m.decode() for m in client.lrange("default", 0, -1))


def waiting_job(job_id: str, args=(), **fields) -> Job:
    created = utcnow() - timedelta(seconds=lost_jobs.PENDING_GRACE_SECONDS + 1)
    return Job(id=job_id, name=tasks.selfcheck.name, args=list(args), created_at=created, **fields).save()


def test_a_lost_job_is_enqueued_again_after_two_looks(broker):
    waiting_job("lost-1")
    now = utcnow()
    assert lost_jobs.recover_lost_jobs(now)["missing"] == ["lost-1"]
    assert lost_jobs.recover_lost_jobs(now + LATER / 2)["requeued"] == []  # not yet: it may be in a worker's hands
    assert lost_jobs.recover_lost_jobs(now + LATER)["requeued"] == ["lost-1"]
    assert "lost-1" in queued_ids(broker)
    record = Job.objects.get(id="lost-1")
    assert record.state == "PENDING" and record.requeued == 1 and record.missing_since is None
    # Its message is there now: nothing more happens to it.
    assert lost_jobs.recover_lost_jobs(now + 3 * LATER) == {"requeued": [], "failed": [], "missing": []}


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
    assert sorted(lost_jobs.recover_lost_jobs(now + LATER)["failed"]) == ["lost-again", "old-record"]
    assert "lost by the broker 4 times" in Job.objects.get(id="lost-again").error
    assert "does not say its arguments" in Job.objects.get(id="old-record").error
    assert {job.state for job in Job.objects} == {"FAILURE"}
    assert queued_ids(broker) == ""


def test_young_and_started_jobs_are_not_looked_at(broker):
    Job(id="young", name=tasks.selfcheck.name, args=[]).save()
    waiting_job("started", state="STARTED")
    now = utcnow()
    for seconds in (0, lost_jobs.PENDING_GRACE_SECONDS - 5):
        assert lost_jobs.recover_lost_jobs(now + timedelta(seconds=seconds)) == {"requeued": [], "failed": [],
                                                                                 "missing": []}


def test_a_started_job_records_its_arguments(broker):
    job = jobs.start_job(tasks.train_ncf, "snapshot-9")
    assert Job.objects.get(id=job.id).args == ["snapshot-9"]
