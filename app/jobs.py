"""Background jobs: start a task for a client, report its state, report progress."""
from __future__ import annotations

import uuid
from datetime import timedelta

from celery import Task
from flask import current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from app.errors import BrokerUnavailable, JobNotFound
from app.observability import metrics
from app.storage.jobs import ACTIVE_STATES, FINISHED_STATES, Job, latest_jobs, utcnow

# What the broker or the result backend (Redis) raise when they do not answer.
BROKER_ERRORS = (OperationalError, RedisError, OSError)


def _celery():
    return current_app.extensions["celery"]


def start_job(task: Task | str, *args, key: str | None = None) -> Job:
    """Record a job and enqueue `task(*args)` under the job's id; `task` or its name
    (app/queues.py), so that a module the tasks call can start one without importing them.

    With a `key`, a job already active under that key is returned instead of
    starting a second one, so a client retrying its request does not double work.
    """
    if key:
        active = Job.objects(key=key, state__in=ACTIVE_STATES).first()
        if active:
            return active
    name = task if isinstance(task, str) else task.name
    job = Job(id=str(uuid.uuid4()), name=name, key=key, args=list(args)).save(force_insert=True)
    bound = _celery().tasks[name]  # this app's broker, whichever Celery app is current
    try:
        bound.apply_async(args=args, task_id=job.id)
    except BROKER_ERRORS as exc:
        job.update(state="FAILURE", error=f"not enqueued: {exc}", finished_at=utcnow())
        raise BrokerUnavailable(str(exc)) from exc
    metrics.TASKS_ENQUEUED.labels(task=name).inc()
    return job


def _recorded_status(job: Job) -> dict:
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state,
        "step": job.step,
        "percent": job.percent,
        "result": job.result or None,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def job_status(job_id: str) -> dict:
    """State, step, percent, result or error of a job the API started."""
    job = Job.objects(id=job_id).first()
    if job is None:
        raise JobNotFound(job_id)
    return _status_of(job)


def recent_jobs(limit: int = 30) -> list[dict]:
    """The latest jobs, newest first, each as GET /jobs/<id> shows it (live progress while running)."""
    return [_status_of(job) for job in latest_jobs(limit)]


def _status_of(job: Job) -> dict:
    if job.finished:
        return _recorded_status(job)
    # Still running as far as the record knows: the result backend has live progress.
    live = _celery().AsyncResult(job.id)
    try:
        state, info = live.state, live.info
    except BROKER_ERRORS:  # the backend (Redis) is down: the record is what we know
        return _recorded_status(job)
    if state in FINISHED_STATES:
        # The worker stores the result before it updates the record, and the record was read
        # first: read it again. It now shows the start at least (that came before the result).
        job.reload()
        if job.finished:
            return _recorded_status(job)
    status = _recorded_status(job)
    status["state"] = state
    if state == "PROGRESS" and isinstance(info, dict):
        status["step"] = info.get("step")
        status["percent"] = info.get("percent")
        status["progress"] = info
    elif state == "SUCCESS":
        status.update(percent=100, result=info if isinstance(info, dict) else {"value": info})
    elif state == "FAILURE":
        status["error"] = f"{type(info).__name__}: {info}"
    if state in FINISHED_STATES:
        status["finished_at"] = live.date_done
    return status


def cancel_job(job_id: str) -> dict:
    """Stop a job: a queued one never starts, a running one is terminated (SIGTERM).

    A queued job is recorded REVOKED at once (workers discard a revoked id). A running
    one is recorded REVOKED by its worker once it is stopped; if it finishes first, its
    real outcome stands. A finished job is left as it is."""
    job = Job.objects(id=job_id).first()
    if job is None:
        raise JobNotFound(job_id)
    if not job.finished:
        try:
            _celery().control.revoke(job_id, terminate=True, signal="SIGTERM")
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(str(exc)) from exc
        Job.objects(id=job_id, state="PENDING").update(
            state="REVOKED", error="cancelled on request", finished_at=utcnow()
        )
    return job_status(job_id)


def prune_finished(retention_days: int) -> int:
    """Delete records of jobs that finished more than `retention_days` ago."""
    cutoff = utcnow() - timedelta(days=retention_days)
    return Job.objects(state__in=("SUCCESS", "FAILURE", "REVOKED"), finished_at__lt=cutoff).delete()


class JobProgress:
    """Reports a task's step and percent to the result backend (and so to /jobs)."""

    def __init__(self, task: Task | None = None):
        self.task = task

    def __call__(self, step: str, percent: float, **details) -> None:
        if self.task is None or not self.task.request.id:
            return  # called outside a worker (CLI, notebook): nothing to report to
        meta = {"step": step, "percent": int(max(0, min(100, percent))), **details}
        self.task.update_state(state="PROGRESS", meta=meta)
