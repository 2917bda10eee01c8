"""Worker-side bookkeeping: copy each job's state into its record, count tasks."""
from __future__ import annotations

import time

from celery import signals

from app.observability import metrics
from app.storage import connection
from app.storage.jobs import ACTIVE_STATES, FINISHED_STATES, Job, utcnow

_started: dict[str, float] = {}


def _on_prerun(task_id=None, task=None, **_):
    _started[task_id] = time.perf_counter()
    Job.objects(id=task_id, state__in=ACTIVE_STATES).update(state="STARTED", started_at=utcnow())


def _on_postrun(task_id=None, task=None, retval=None, state=None, **_):
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


def _on_revoked(request=None, terminated=None, signum=None, expired=None, **_):
    task_id = getattr(request, "id", None)
    if task_id:
        reason = "expired" if expired else f"revoked (signal {signum})" if terminated else "revoked"
        Job.objects(id=task_id).update(state="REVOKED", error=reason, finished_at=utcnow())


def _on_worker_process_init(**_):
    # A fresh pool child: make sure it never reuses its parent's Mongo sockets.
    connection.reconnect()


def connect() -> None:
    """Connect the handlers once per process (create_app may run several times)."""
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="marketrec.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="marketrec.postrun")
    signals.task_revoked.connect(_on_revoked, weak=False, dispatch_uid="marketrec.revoked")
    signals.worker_process_init.connect(
        _on_worker_process_init, weak=False, dispatch_uid="marketrec.process_init"
    )
