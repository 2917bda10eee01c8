"""Jobs whose queue message the broker lost, found from their records in MongoDB.

Redis without persistence forgets its queues when it restarts. A job the API answered
202 for would then stay PENDING forever: its record says it waits, but no message is
left to run it. Every RECOVER_JOBS_SECONDS (beat), `recover_lost_jobs` compares the
PENDING records with the messages the broker holds (queued, or delivered to a worker
and not yet acknowledged). A job missing twice, LOST_CONFIRM_SECONDS apart, is enqueued
again under the same id (every job's task is idempotent by its arguments), at most
MAX_REQUEUES times; after that, or for a record that does not say its arguments, it is
failed with the reason. Jobs that started are not this module's business (their worker
reports their end).

Only Redis brokers can be read this way (kombu's Redis transport: one list per queue and
priority, and the `unacked` hash); with another broker nothing is recovered.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlparse

import redis
from flask import current_app

from app.celery_app import QUEUES
from app.observability import metrics
from app.storage.jobs import Job, utcnow

log = logging.getLogger(__name__)

PENDING_GRACE_SECONDS = 30  # younger records are not looked at: their message may be on its way
LOST_CONFIRM_SECONDS = 20  # missing at two looks this far apart: lost, not in a worker's hands
MAX_REQUEUES = 3
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's priority steps 0, 3, 6, 9
_UNACKED = "unacked"
MOST_MESSAGES_READ = 100_000  # a longer backlog is not read: nothing is recovered then


def recover_lost_jobs(now=None) -> dict:
    """Look once; the ids of the jobs enqueued again, failed, and seen missing for the first time."""
    now = now or utcnow()
    waiting = list(Job.objects(state="PENDING", created_at__lt=now - timedelta(seconds=PENDING_GRACE_SECONDS)))
    outcome = {"requeued": [], "failed": [], "missing": []}
    if not waiting:
        return outcome
    held = messages_held(current_app.config["CELERY_BROKER_URL"])
    if held is None:
        return {**outcome, "status": "the broker's messages cannot be read"}
    held = "\n".join(held)  # a job's id is a uuid: found in its message's headers
    for job in waiting:
        if job.id in held:
            if job.missing_since:
                Job.objects(id=job.id).update(unset__missing_since=True)
        elif job.missing_since is None:
            Job.objects(id=job.id, state="PENDING").update(set__missing_since=now)
            outcome["missing"].append(job.id)
        elif now - job.missing_since >= timedelta(seconds=LOST_CONFIRM_SECONDS):
            done = _requeue_or_fail(job)
            if done:
                outcome[done].append(job.id)
        else:
            outcome["missing"].append(job.id)
    return outcome


def messages_held(broker_url: str) -> list[str] | None:
    """Every message the broker holds for our queues, raw; None when it cannot be read."""
    if urlparse(broker_url).scheme not in ("redis", "rediss"):
        return None
    client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        keys = [f"{queue}{suffix}" for queue in QUEUES for suffix in _PRIORITY_SUFFIXES]
        lengths = [client.llen(key) for key in keys]
        if sum(lengths) + client.hlen(_UNACKED) > MOST_MESSAGES_READ:
            log.warning("the broker holds more than %d messages: lost jobs are not looked for", MOST_MESSAGES_READ)
            return None
        held = [m.decode(errors="replace") for key, n in zip(keys, lengths) if n for m in client.lrange(key, 0, -1)]
        held += [m.decode(errors="replace") for m in client.hvals(_UNACKED)]
        return held
    except redis.RedisError as exc:
        log.warning("the broker's messages cannot be read: %s", exc)
        return None
    finally:
        client.close()


def _requeue_or_fail(job: Job) -> str | None:
    """"requeued", or "failed" (the record says why); None when the job started meanwhile."""
    if job.args is None or (job.requeued or 0) >= MAX_REQUEUES:
        why = ("its queue message was lost by the broker and its record does not say its arguments"
               if job.args is None else f"its queue message was lost by the broker {MAX_REQUEUES + 1} times")
        if not Job.objects(id=job.id, state="PENDING").update(
                set__state="FAILURE", set__error=why, set__finished_at=utcnow(), unset__missing_since=True):
            return None
        metrics.LOST_JOBS.labels(task=job.name, outcome="failed").inc()
        log.warning("job %s failed: %s", job.id, why, extra={"job_id": job.id, "task": job.name})
        return "failed"
    if not Job.objects(id=job.id, state="PENDING").update(inc__requeued=1, unset__missing_since=True):
        return None
    current_app.extensions["celery"].tasks[job.name].apply_async(args=list(job.args), task_id=job.id)
    metrics.LOST_JOBS.labels(task=job.name, outcome="requeued").inc()
    log.warning("job %s enqueued again: the broker had lost its message", job.id,
                extra={"job_id": job.id, "task": job.name, "requeued": (job.requeued or 0) + 1})
    return "requeued"
