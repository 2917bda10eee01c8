"""Every Celery task: a few lines each, ids in, plain data out. The work lives in
plain functions that the CLI and notebooks call directly."""
from __future__ import annotations

from celery import shared_task
from flask import current_app
from kombu.exceptions import OperationalError
from pymongo.errors import AutoReconnect
from redis.exceptions import ConnectionError as RedisConnectionError

from app import diagnostics, jobs
from app.marketplace import dumps

# Errors worth retrying: a dependency blinked, the work itself is fine.
TRANSIENT_ERRORS = (AutoReconnect, RedisConnectionError, OperationalError, ConnectionError)
RETRYING = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="marketrec.selfcheck", bind=True, acks_late=True, **RETRYING)
def selfcheck(self) -> dict:
    """Prove the whole path: broker → worker → MongoDB → result backend."""
    return diagnostics.run_selfcheck(progress=jobs.Progress(self))


@shared_task(name="marketrec.jobs.prune", acks_late=True, **RETRYING)
def prune_jobs() -> dict:
    days = current_app.config["JOB_RETENTION_DAYS"]
    return {"deleted": jobs.prune_finished(days), "retention_days": days}


@shared_task(name="marketrec.dumps.ingest", bind=True, acks_late=True, **RETRYING)
def ingest_dump(self, snapshot_id: str) -> dict:
    """Ingest a stored dump into its snapshot; make it active when complete, then prune."""
    result = dumps.ingest_snapshot(snapshot_id, progress=jobs.Progress(self))
    if result["status"] == "active":
        result["prune_job_id"] = jobs.start_job(prune_dumps, key="dataset-snapshots-prune").id
    return result


@shared_task(name="marketrec.dumps.prune", bind=True, acks_late=True, **RETRYING)
def prune_dumps(self) -> dict:
    """Delete the documents of snapshots beyond the DATASET_SNAPSHOTS_KEPT latest."""
    return dumps.prune_snapshots(progress=jobs.Progress(self))
