"""When NCF should be trained again: a newer snapshot, enough new interactions, or age."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app

from app import model_registry
from app.storage import database
from app.storage.jobs import utcnow
from app.storage.snapshots import active_snapshot_id


def new_interactions_since(moment) -> int:
    db = database()
    return sum(db[name].count_documents({"timestamp": {"$gte": moment}}) for name in ("user_actions", "events"))


def reason_to_retrain() -> str | None:
    """Why a retraining is due now, or None."""
    snapshot_id = active_snapshot_id()
    if snapshot_id is None:
        return None
    active = model_registry.active_version("NCF")
    if active is None:
        return "no active NCF version"
    if active.dataset_id != snapshot_id:
        return f"trained on {active.dataset_id}, the active snapshot is {snapshot_id}"
    config = current_app.config
    since = active.activated_at or active.created_at
    if utcnow() - since > timedelta(seconds=config["RETRAIN_AFTER_SECONDS"]):
        return "the active version is older than RETRAIN_AFTER_SECONDS"
    arrived = new_interactions_since(since)
    if arrived >= config["RETRAIN_AFTER_INTERACTIONS"]:
        return f"{arrived} new interactions since activation"
    return None
