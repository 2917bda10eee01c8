"""Worker-side bookkeeping: copy each job's state into its record, keep a heartbeat in it
while the job runs (app/lost_jobs.py tells a killed job by its silence), count tasks.

Most handlers run in the pool process that ran the task. When that process dies (kill -9,
the OOM killer, a hard time limit), the worker's main process reports the end instead:
Celery retries a task whose process was lost (`retry_on_worker_lost`, within its
max_retries) and fails it after that, and the handlers of `task_retry` and
`task_failure` copy either into the record there, and free the dead run's writer lease."""
from __future__ import annotations

import logging
import threading
import time

from billiard.exceptions import WorkerLostError
from celery import signals

from app.observability import metrics
from app.observability.logs import OutageWarning
from app.storage import connection
from app.storage.jobs import ACTIVE_STATES, FINISHED_STATES, Job, running_job, utcnow
from app.storage.snapshots import release_writer_lease_of_job

log = logging.getLogger(__name__)
_started: dict[str, float] = {}
_heartbeats: dict[str, threading.Event] = {}
_heartbeat_failed = OutageWarning(log, "a job's heartbeat could not be written")
_settings = {"heartbeat_seconds": 15.0}  # set by connect(): signals run outside the Flask app context


def _on_prerun(task_id=None, task=None, **_):
    _started[task_id] = time.perf_counter()
    running_job.set(task_id)
    now = utcnow()
    if Job.objects(id=task_id, state__in=ACTIVE_STATES).update(
            state="STARTED", started_at=now, heartbeat_at=now, unset__missing_since=True, unset__step=True):
        _heartbeats[task_id] = _start_heartbeat(task_id, _settings["heartbeat_seconds"])


def _start_heartbeat(task_id: str, seconds: float) -> threading.Event:
    """A thread that says the job is alive every `seconds`, until the event is set."""
    stop = threading.Event()

    def beat():
        while not stop.wait(seconds):
            try:
                Job.objects(id=task_id, state="STARTED").update(heartbeat_at=utcnow(), unset__missing_since=True)
            except Exception as exc:  # noqa: BLE001 - the database may be down a moment; the job goes on
                _heartbeat_failed(exc)

    threading.Thread(target=beat, name=f"heartbeat-{task_id}", daemon=True).start()
    return stop


def _on_postrun(task_id=None, task=None, retval=None, state=None, **_):
    running_job.set(None)
    heartbeat = _heartbeats.pop(task_id, None)
    if heartbeat is not None:
        heartbeat.set()
    began = _started.pop(task_id, None)
    if began is not None:
        metrics.TASK_DURATION.labels(task=task.name).observe(time.perf_counter() - began)
    metrics.TASKS.labels(task=task.name, state=state or "UNKNOWN").inc()
    if state == "SUCCESS":
        result = retval if isinstance(retval, dict) else {"value": retval}
        Job.objects(id=task_id).update(state=state, result=result, percent=100, finished_at=utcnow())
    elif state in FINISHED_STATES:
        error = f"{type(retval).__name__}: {retval}" if isinstance(retval, BaseException) else str(retval)
        Job.objects(id=task_id).update(state=state, error=error, finished_at=utcnow())
    elif state == "RETRY":
        Job.objects(id=task_id).update(state="RETRY")


def _on_retry(sender=None, request=None, reason=None, **_):
    exc = getattr(reason, "exc", None)
    if request is None or not isinstance(exc, WorkerLostError):
        return  # a retry the task asked for: its own process records it (_on_postrun)
    _free_lease_of_lost_run(request.id)
    run, most = request.retries + 1, getattr(sender, "max_retries", None)
    of = f" of {most}" if most is not None else ""
    Job.objects(id=request.id, state__in=ACTIVE_STATES).update(
        state="RETRY", step=f"retry {run}{of}: the process running it was lost ({exc})")


def _on_failure(task_id=None, exception=None, **_):
    if running_job.get() == task_id:
        return  # sent in the process that ran the task: _on_postrun records the failure
    # The worker's main process: no pool process is left to report (lost, or killed at the time limit).
    if isinstance(exception, WorkerLostError):
        _free_lease_of_lost_run(task_id)
    error = f"{type(exception).__name__}: {exception}"
    Job.objects(id=task_id, state__in=ACTIVE_STATES).update(state="FAILURE", error=error, finished_at=utcnow())


def _free_lease_of_lost_run(task_id: str) -> None:
    """The dead run held the writer lease: its next run need not wait LEASE_SECONDS for it."""
    if release_writer_lease_of_job(task_id):
        log.warning("the writer lease of lost run %s is released", task_id, extra={"job_id": task_id})


def _on_revoked(request=None, terminated=None, signum=None, expired=None, **_):
    task_id = getattr(request, "id", None)
    if task_id:
        reason = "expired" if expired else f"revoked (signal {signum})" if terminated else "revoked"
        Job.objects(id=task_id).update(state="REVOKED", error=reason, finished_at=utcnow())


def _on_worker_process_init(**_):
    # A fresh pool child: make sure it never reuses its parent's Mongo sockets.
    connection.reconnect()


def connect(heartbeat_seconds: float) -> None:
    """Connect the handlers once per process (create_app may run several times)."""
    _settings["heartbeat_seconds"] = heartbeat_seconds
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="marketrec.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="marketrec.postrun")
    signals.task_revoked.connect(_on_revoked, weak=False, dispatch_uid="marketrec.revoked")
    signals.task_retry.connect(_on_retry, weak=False, dispatch_uid="marketrec.retry")
    signals.task_failure.connect(_on_failure, weak=False, dispatch_uid="marketrec.failure")
    signals.worker_process_init.connect(
        _on_worker_process_init, weak=False, dispatch_uid="marketrec.process_init"
    )
