"""Every Celery task: a few lines each, ids in, plain data out. The work lives in
plain functions that the CLI and notebooks call directly."""
from __future__ import annotations

import logging
from collections.abc import Callable

from celery import Task, shared_task, signals
from flask import current_app
from gridfs.errors import NoFile
from kombu.exceptions import OperationalError
from mongoengine import DoesNotExist
from pymongo.errors import AutoReconnect
from redis.exceptions import ConnectionError as RedisConnectionError

from app import diagnostics, jobs, lost_jobs, queues
from app.engines import registry
from app.errors import DataRejected, NotFound, SnapshotNotFound
from app.marketplace import ingestion, pruning
from app.pipelines import retraining
from app.pipelines.interaction_models import fit_interaction_models
from app.pipelines.served_outcomes import fold_served_outcomes as fold_outcomes
from app.storage import snapshot_lifecycle as lifecycle
from app.storage.snapshots import snapshot_exists

log = logging.getLogger(__name__)

WORKER_LOST_RETRY_SECONDS = 10

# Errors worth retrying: a dependency blinked, the work itself is fine.
TRANSIENT_ERRORS = (AutoReconnect, RedisConnectionError, OperationalError, ConnectionError)
RETRYING = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    # max_retries: TASK_MAX_RETRIES, applied by the app's task annotations (celery_app.TaskLimits)
    # A pool process killed under the task (kill -9, the OOM killer): the worker's main
    # process runs it again after WORKER_LOST_RETRY_SECONDS, within the same max_retries,
    # then fails it (app/job_signals.py records both). Every task is idempotent by its ids.
    "retry_on_worker_lost": True,
    "default_retry_delay": WORKER_LOST_RETRY_SECONDS,
}
# What a job is about can disappear while it waits in the queue: a snapshot deleted, a
# model version pruned, the database reset under a broker that kept its messages. Or its
# data cannot train the model (a dump without users cannot train NCF). Neither is
# transient: the job ends at once, and its record says what is gone or missing.
GONE_ERRORS = (NotFound, DoesNotExist, NoFile)


def skipped_if_impossible(task: Task, work: Callable[[], dict], snapshot_id: str | None = None) -> dict:
    """`work()`; or, when what it needs no longer exists or its data cannot train a model, a
    one-line warning and the result {"status": "skipped", "reason": ...} (the job record
    shows it), no traceback."""
    try:
        return work()
    except GONE_ERRORS as exc:
        reason = gone_reason(exc, snapshot_id)
    except DataRejected as exc:
        reason = rejected_reason(exc)
    log.warning("%s skipped: %s", task.name, reason,
                extra={"task_id": task.request.id, "snapshot_id": snapshot_id, "reason": reason})
    skipped = {"status": "skipped", "reason": reason}
    return {**skipped, "snapshot_id": snapshot_id} if snapshot_id else skipped


def rejected_reason(exc: DataRejected) -> str:
    """The reason in words, e.g. `too little data to train NCF (users: 0 < 10)`."""
    details = ", ".join(f"{key}: {value}" for key, value in exc.errors.items())
    return f"{exc.message} ({details})" if details else exc.message


def gone_reason(exc: Exception, snapshot_id: str | None = None) -> str:
    """What is gone, in words: the job's snapshot when it is the missing thing, else the error."""
    if isinstance(exc, SnapshotNotFound):
        snapshot_id = exc.snapshot_id
    elif snapshot_id and snapshot_exists(snapshot_id):
        snapshot_id = None  # the snapshot is there: something else is missing
    if snapshot_id:
        return f"dataset snapshot {snapshot_id} no longer exists"
    detail = exc.message if isinstance(exc, NotFound) else str(exc) or type(exc).__name__
    return f"something it needs no longer exists: {detail}"


@shared_task(name=queues.SELFCHECK, bind=True, acks_late=True, **RETRYING)
def selfcheck(self) -> dict:
    """Prove the whole path: broker → worker → MongoDB → result backend."""
    return diagnostics.run_selfcheck(progress=jobs.JobProgress(self))


@shared_task(name=queues.PRUNE_JOBS, acks_late=True, **RETRYING)
def prune_jobs() -> dict:
    days = current_app.config["JOB_RETENTION_DAYS"]
    return {"deleted": jobs.prune_finished(days), "retention_days": days}


@shared_task(name=queues.RECOVER_JOBS, ignore_result=True, expires=60)
def recover_lost_jobs() -> dict:
    """Jobs whose message the broker lost: enqueued again, or failed with the reason."""
    return lost_jobs.recover_lost_jobs()


@shared_task(name=queues.INGEST_DUMP, bind=True, acks_late=True, **RETRYING)
def ingest_dump(self, snapshot_id: str) -> dict:
    """Ingest a stored dump into its snapshot; make it active when complete, then prune."""

    def ingest() -> dict:
        result = ingestion.ingest_snapshot(snapshot_id, progress=jobs.JobProgress(self))
        # A snapshot made active has its training requested (snapshot_lifecycle.activated): the
        # jobs are queued here; the CLI, which ingests synchronously, trains itself.
        if result["status"] == "active":
            result["prune_job_id"] = jobs.start_job(prune_dumps, key="dataset-snapshots-prune").id
            result["training_job_ids"] = queue_retraining(snapshot_id)
        return result

    return skipped_if_impossible(self, ingest, snapshot_id)


def _fail_snapshot_of_failed_ingestion(sender=None, args=None, exception=None, **_):
    """An ingestion that failed without saying so itself (its process lost more often than it
    is retried): its snapshot is failed with the reason, not left "ingesting" for ever."""
    if getattr(sender, "name", None) == queues.INGEST_DUMP and args:
        lifecycle.failed(args[0], f"its ingestion failed ({type(exception).__name__}: {exception}); "
                                  "send the dump again", only_while=("received", "ingesting"))


signals.task_failure.connect(_fail_snapshot_of_failed_ingestion, weak=False, dispatch_uid="marketrec.ingest_failed")


def queue_retraining(snapshot_id: str) -> list[str]:
    """Jobs that retrain every model on a newly active snapshot."""
    return [start_training(engine, snapshot_id).id for engine in TRAINERS]


def start_training(engine: str, snapshot_id: str | None = None):
    """The job training `engine` on a snapshot (the active one by default); one at a time per pair."""
    return jobs.start_job(TRAINERS[engine], snapshot_id, key=f"train:{engine}:{snapshot_id or 'active'}")


@shared_task(name=queues.PRUNE_DUMPS, bind=True, acks_late=True, **RETRYING)
def prune_dumps(self) -> dict:
    """Delete the documents of snapshots beyond the DATASET_SNAPSHOTS_KEPT latest."""
    return skipped_if_impossible(self, lambda: pruning.prune_snapshots(progress=jobs.JobProgress(self)))


@shared_task(name=queues.TRAIN_INTERACTION_MODELS, bind=True, acks_late=True, **RETRYING)
def train_interaction_models(self, snapshot_id: str | None = None, scheduled: bool = False) -> dict:
    """Fit Popularity and Session on everything users did; activate them. Beat's refits
    (`scheduled`) are skipped when they would repeat the last fit."""
    return skipped_if_impossible(
        self, lambda: fit_interaction_models(snapshot_id, progress=jobs.JobProgress(self), job_id=self.request.id,
                                             scheduled=scheduled),
        snapshot_id,
    )


@shared_task(name=queues.TRAIN_NCF, bind=True, acks_late=True, **RETRYING)
def run_ncf_training(self, snapshot_id: str | None = None) -> dict:
    """The NCF pipeline: autoencoders, NCF, evaluation against baselines, gated activation."""
    import torch  # imported here: API processes never load torch

    from app.pipelines.ncf import run_ncf_pipeline

    torch.set_num_threads(1)  # faster than 2 on 2-core machines (benchmarks/quality.py)
    return skipped_if_impossible(
        self, lambda: run_ncf_pipeline(snapshot_id, progress=jobs.JobProgress(self), job_id=self.request.id),
        snapshot_id,
    )


@shared_task(name=queues.CHECK_RETRAINING, acks_late=True, **RETRYING)
def check_retraining() -> dict:
    """Beat: retrain NCF when its data is old or enough new interactions arrived."""
    reason = retraining.reason_to_retrain()
    return {"reason": reason, "job_id": start_training("ncf").id if reason else None}


@shared_task(name=queues.FOLD_SERVED_OUTCOMES, acks_late=True, **RETRYING)
def fold_served_outcomes() -> dict:
    """Beat: count what followed the served panels whose attribution window has passed, and
    summarise the experiments that got new counts (app/pipelines/served_outcomes.py)."""
    report = fold_outcomes()
    return {**report, "through": report["through"].isoformat() if report["through"] else None}


@shared_task(name=queues.TRAIN_RL, bind=True, acks_late=True, **RETRYING)
def run_rl_training(self, snapshot_id: str | None = None) -> dict:
    """New SARS from settled journeys, then the RL pipeline: TD3, simulator and off-policy
    evaluation, activation only when it beats Random and Popularity (app/pipelines/rl.py)."""
    import torch  # imported here: API processes never load torch

    from app.pipelines.rl import run_rl_pipeline
    from app.pipelines.sars_store import generate_sars

    torch.set_num_threads(1)
    progress = jobs.JobProgress(self)

    def train() -> dict:
        generate_sars(progress, snapshot_id=snapshot_id)
        return run_rl_pipeline(snapshot_id, progress=progress, job_id=self.request.id)

    return skipped_if_impossible(self, train, snapshot_id)


# Training job → its task, in the order a new snapshot queues them (app/engines/registry.py).
TRAINERS = {job: queues.TRAINING_PREFIX + job for job in registry.training_jobs()}
