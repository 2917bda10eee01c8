"""The record of every background job the API started."""
from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta, timezone

from mongoengine import DateTimeField, DictField, Document, IntField, ListField, StringField

ACTIVE_STATES = ("PENDING", "STARTED", "PROGRESS", "RETRY")
FINISHED_STATES = ("SUCCESS", "FAILURE", "REVOKED")
STATES = ACTIVE_STATES + FINISHED_STATES


# The job this worker process runs now (set by app/job_signals.py), for records that name it.
running_job: ContextVar[str | None] = ContextVar("running_job", default=None)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Job(Document):
    """A Celery task started on a client's behalf. Live progress is read from the
    result backend; the final state is copied here by the worker so it outlives
    the backend's expiry."""

    id = StringField(primary_key=True)
    name = StringField(required=True)
    key = StringField()  # idempotency key: at most one active job per key
    args = ListField(default=None)  # the task's arguments: a job whose message was lost is enqueued again
    requeued = IntField(min_value=0)  # times enqueued again (app/lost_jobs.py)
    missing_since = DateTimeField()  # first seen lost: no message in the broker, or no heartbeat
    heartbeat_at = DateTimeField()  # while STARTED: the running task says it is alive (app/job_signals.py)
    state = StringField(required=True, default="PENDING", choices=STATES)
    step = StringField()
    percent = IntField(min_value=0, max_value=100)
    result = DictField()
    error = StringField()
    created_at = DateTimeField(required=True, default=utcnow)
    started_at = DateTimeField()
    finished_at = DateTimeField()

    meta = {
        "collection": "jobs",
        "indexes": ["-created_at", ("key", "state"), ("state", "finished_at")],
    }

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


# How far back `latest_jobs` looks, window after window, until it has enough.
LATEST_JOBS_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=31))


def latest_jobs(limit: int = 30) -> list[Job]:
    """The jobs created last, newest first.

    A read bounded in time: SecantusDB walks the whole index range of a query before it
    applies the limit (all jobs ever, unbounded), so the window grows only while it holds
    fewer than `limit` jobs (beat starts a few hundred a day)."""
    now = utcnow()
    found: list[Job] = []
    for window in LATEST_JOBS_WINDOWS:
        found = list(Job.objects(created_at__gte=now - window).order_by("-created_at").limit(limit))
        if len(found) >= limit:
            break
    return found
