"""When NCF should be trained again: a newer snapshot, enough new interactions, or age.

Counted from the last *attempt* on the active snapshot, not from the active version:
a run the gate rejected, or one that failed on its data, has seen the data it had, and
training again on the same data would only repeat it (every check, minutes of CPU each
on a 2-core machine, slowing the requests served beside it). Nothing is due while an
NCF job is queued or running: it reads the data when it starts.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app

from app import model_registry
from app.marketplace.history import stored_since
from app.queues import TRAIN_NCF
from app.storage.jobs import ACTIVE_STATES, Job, utcnow
from app.storage.snapshots import DatasetSnapshot, active_snapshot_id

FINISHED_RUNS = ("SUCCESS", "FAILURE")  # a revoked run may not have read anything


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def last_attempt(snapshot_id: str) -> datetime | None:
    """When the last NCF run on this snapshot read its data: its version's creation
    (whatever the gate decided), or the start of a run that ended after the snapshot
    became active without a version (failed, or skipped: too little data); None when
    there was none."""
    version = model_registry.latest_version("NCF", snapshot_id)
    moments = [_aware(version.created_at)] if version else []
    snapshot = DatasetSnapshot.objects(id=snapshot_id).only("activated_at").first()
    ended = Job.objects(name=TRAIN_NCF, state__in=FINISHED_RUNS).order_by("-created_at").only("started_at").first()
    activated = _aware(snapshot.activated_at) if snapshot else None
    if ended and ended.started_at and activated and _aware(ended.started_at) >= activated:
        moments.append(_aware(ended.started_at))
    return max(moments, default=None)


def reason_to_retrain() -> str | None:
    """Why a retraining is due now, or None."""
    snapshot_id = active_snapshot_id()
    if snapshot_id is None:
        return None
    if Job.objects(name=TRAIN_NCF, state__in=ACTIVE_STATES).first() is not None:
        return None  # queued or running: it will read what arrived meanwhile
    since = last_attempt(snapshot_id)
    if since is None:
        active = model_registry.active_version("NCF")
        if active is None:
            return "no active NCF version"
        return f"trained on {active.dataset_id}, the active snapshot is {snapshot_id}"
    config = current_app.config
    if utcnow() - since > timedelta(seconds=config["RETRAIN_AFTER_SECONDS"]):
        return "the last run on the active snapshot is older than RETRAIN_AFTER_SECONDS"
    arrived = stored_since(since)
    if arrived >= config["RETRAIN_AFTER_INTERACTIONS"]:
        return f"{arrived} new interactions since the last run on the active snapshot"
    return None
