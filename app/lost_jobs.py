"""Jobs that would never end: found from their records in MongoDB, run again or failed.

Two ways a job the API answered 202 for can be lost:

- **Its message is lost.** Redis without persistence forgets its queues when it
  restarts; the record says PENDING forever, with no message left to run it.
- **The worker running it is killed** (kill -9, the OOM killer, a lost node). Its
  message waits, unacknowledged, for the broker's visibility timeout (70 minutes, longer
  than the longest training) before anything runs it again; the record says STARTED.
  (When only the pool process running it dies, the worker's main process retries or
  fails it at once: app/job_signals.py.)

Every RECOVER_JOBS_SECONDS (beat), `recover_lost_jobs` looks for both: PENDING records
with no message in the broker (queued, or delivered to a worker and not yet
acknowledged), or whose message was delivered but no live worker holds it (a worker's
connection lost in a Redis failover before it could put the message back), and STARTED
records whose heartbeat (app/job_signals.py, every
JOB_HEARTBEAT_SECONDS while the task runs) is older than STALLED_AFTER_HEARTBEATS beats.
A job seen so at two looks at least a confirmation period apart (a live heartbeat clears
the mark in between) is enqueued again under the same id, at most MAX_REQUEUES times:
every job's task is idempotent by its arguments. After that, or for a record that does
not say its arguments, it is failed with the reason. A started job whose end the result
backend knows (a hard time limit, a pool process lost) is recorded with that end instead.
A killed job's unacknowledged message is dropped when the job is enqueued again, so the
visibility timeout does not run it a second time.

Only Redis brokers can be read this way (kombu's Redis transport: one list per queue and
priority, the `unacked` hash and its `unacked_index`); with another broker nothing is
recovered.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import redis
from flask import current_app

from app.jobs import BROKER_ERRORS
from app.observability import metrics
from app.queues import QUEUES
from app.redis_clients import is_redis, redis_client
from app.storage.jobs import FINISHED_STATES, Job, utcnow
from app.storage.snapshots import release_writer_lease_of_job

log = logging.getLogger(__name__)

PENDING_GRACE_SECONDS = 30  # younger records are not looked at: their message may be on its way
STALLED_AFTER_HEARTBEATS = 4
MAX_REQUEUES = 3
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's priority steps 0, 3, 6, 9
_UNACKED, _UNACKED_INDEX = "unacked", "unacked_index"
MOST_MESSAGES_READ = 100_000  # a longer backlog is not read: no lost message is looked for then


def recover_lost_jobs(now=None) -> dict:
    """Look once: ids of the jobs enqueued again, failed, ended as the backend says, and
    seen lost for the first time."""
    now = now or utcnow()
    outcome = {"requeued": [], "failed": [], "ended": [], "missing": []}
    for job, why in [*_silent_jobs(now), *_jobs_without_message(now)]:
        if job.missing_since is None:
            if Job.objects(id=job.id, state=job.state).update(set__missing_since=now):
                outcome["missing"].append(job.id)
        elif now - job.missing_since >= timedelta(seconds=confirmation_seconds()):
            done = _end(job, why)
            if done:
                outcome[done].append(job.id)
        else:
            outcome["missing"].append(job.id)
    return outcome


def confirmation_seconds() -> float:
    """How long a job must stay lost between two looks: past a heartbeat, and past one look."""
    config = current_app.config
    return max(config["RECOVER_JOBS_SECONDS"], 2 * config["JOB_HEARTBEAT_SECONDS"])


def _silent_jobs(now) -> list[tuple[Job, str]]:
    silent_for = timedelta(seconds=STALLED_AFTER_HEARTBEATS * current_app.config["JOB_HEARTBEAT_SECONDS"])
    stalled = Job.objects(state="STARTED", heartbeat_at__lt=now - silent_for)
    return [(job, f"the process running it stopped (no heartbeat since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)")
            for job in stalled]


def _jobs_without_message(now) -> list[tuple[Job, str]]:
    waiting = list(Job.objects(state="PENDING", created_at__lt=now - timedelta(seconds=PENDING_GRACE_SECONDS)))
    if not waiting:
        return []
    held = messages_held(current_app.config["CELERY_BROKER_URL"])
    if held is None:
        return []
    queued, delivered = ("\n".join(messages) for messages in held)  # a job's id is a uuid, in its message's headers
    delivered_only = [job.id for job in waiting if job.id not in queued and job.id in delivered]
    taken = _taken_by_live_workers() if delivered_only else set()
    lost = []
    for job in waiting:
        if job.id not in queued and job.id not in delivered:
            lost.append((job, "its queue message was lost by the broker"))
        elif job.id in delivered_only and taken is not None and job.id not in taken:
            lost.append((job, "its message was delivered to a worker that is gone"))
        elif job.missing_since:
            Job.objects(id=job.id).update(unset__missing_since=True)
    return lost


def _taken_by_live_workers() -> set[str] | None:
    """Ids of the tasks the live workers run or hold prefetched; None when no worker answers.

    A PENDING job whose message is delivered (in the broker's unacknowledged hash) but held
    by no live worker was delivered to a connection that is gone: a worker whose broker was
    lost in a failover, before it could put the message back. The visibility timeout would
    deliver it again only after 70 minutes."""
    inspect = current_app.extensions["celery"].control.inspect(timeout=1.0)
    try:
        reserved, active = inspect.reserved(), inspect.active()
    except BROKER_ERRORS as exc:
        log.warning("the workers cannot be asked what they hold: %s", exc)
        return None
    if not reserved or active is None:
        return None
    return {task["id"] for replies in (reserved, active) for tasks in replies.values() for task in tasks}


def messages_held(broker_url: str) -> tuple[list[str], list[str]] | None:
    """Every message the broker holds for our queues, raw: (queued, delivered and not yet
    acknowledged); None when they cannot be read."""
    client = _broker(broker_url)
    if client is None:
        return None
    try:
        keys = [f"{queue}{suffix}" for queue in QUEUES for suffix in _PRIORITY_SUFFIXES]
        lengths = [client.llen(key) for key in keys]
        if sum(lengths) + client.hlen(_UNACKED) > MOST_MESSAGES_READ:
            log.warning("the broker holds more than %d messages: lost jobs are not looked for", MOST_MESSAGES_READ)
            return None
        queued = [m.decode(errors="replace") for key, n in zip(keys, lengths) if n for m in client.lrange(key, 0, -1)]
        return queued, [m.decode(errors="replace") for m in client.hvals(_UNACKED)]
    except redis.RedisError as exc:
        log.warning("the broker's messages cannot be read: %s", exc)
        return None
    finally:
        client.close()


def _broker(broker_url: str) -> redis.Redis | None:
    if not is_redis(broker_url):
        return None
    return redis_client(broker_url, current_app.config["REDIS_SENTINEL_MASTER"], timeout=5)


def _end(job: Job, why: str) -> str | None:
    """"requeued", "failed" or "ended"; None when the job moved on meanwhile (it started,
    its heartbeat came back) or the backend could not be read."""
    if job.state == "STARTED":
        try:
            live = current_app.extensions["celery"].AsyncResult(job.id)
            state, info = live.state, live.info
        except BROKER_ERRORS:
            return None
        if release_writer_lease_of_job(job.id):  # it is dead: its next run need not wait LEASE_SECONDS
            log.warning("the writer lease of killed job %s is released", job.id, extra={"job_id": job.id})
        if state in FINISHED_STATES:
            error = f"{type(info).__name__}: {info}" if isinstance(info, BaseException) else str(info)
            changes = {"set__error": error} if state != "SUCCESS" else {
                "set__result": info if isinstance(info, dict) else {"value": info}, "set__percent": 100}
            if not Job.objects(id=job.id, state="STARTED").update(
                    set__state=state, set__finished_at=utcnow(), unset__missing_since=True, **changes):
                return None
            metrics.LOST_JOBS.labels(task=job.name, outcome="ended").inc()
            return "ended"
    if job.args is None or (job.requeued or 0) >= MAX_REQUEUES:
        why = (f"{why}, and its record does not say its arguments" if job.args is None
               else f"{why}; it was enqueued again {MAX_REQUEUES} times already")
        if not Job.objects(id=job.id, state=job.state, missing_since=job.missing_since).update(
                set__state="FAILURE", set__error=why, set__finished_at=utcnow(), unset__missing_since=True):
            return None
        metrics.LOST_JOBS.labels(task=job.name, outcome="failed").inc()
        log.warning("job %s failed: %s", job.id, why, extra={"job_id": job.id, "task": job.name})
        return "failed"
    if not Job.objects(id=job.id, state=job.state, missing_since=job.missing_since).update(
            set__state="PENDING", inc__requeued=1, unset__missing_since=True):
        return None
    _drop_unacknowledged(job.id)  # a killed run's, or one delivered to a worker that is gone
    current_app.extensions["celery"].tasks[job.name].apply_async(args=list(job.args), task_id=job.id)
    metrics.LOST_JOBS.labels(task=job.name, outcome="requeued").inc()
    log.warning("job %s enqueued again: %s", job.id, why,
                extra={"job_id": job.id, "task": job.name, "requeued": (job.requeued or 0) + 1})
    return "requeued"


def _drop_unacknowledged(job_id: str) -> None:
    """The job's message delivered before (to a killed run, or to a worker that is gone), which the
    visibility timeout would otherwise deliver again."""
    client = _broker(current_app.config["CELERY_BROKER_URL"])
    if client is None:
        return
    try:
        for tag, raw in client.hgetall(_UNACKED).items():
            if job_id in raw.decode(errors="replace"):
                client.pipeline().hdel(_UNACKED, tag).zrem(_UNACKED_INDEX, tag).execute()
    except redis.RedisError as exc:
        log.warning("the killed run of job %s may run again after the visibility timeout: %s", job_id, exc)
    finally:
        client.close()
