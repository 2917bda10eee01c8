"""What the active dataset snapshot holds: the reads recommenders and trainers need.

Every read names a snapshot; by default the active one, so a caller sees one
consistent dataset even while a new dump is being ingested.
"""
from __future__ import annotations

from app.storage.marketplace import DUMP_COLLECTIONS, MarketUser, Service, count_items
from app.storage.snapshots import DatasetSnapshot, active_snapshot_id, get_snapshot

# Bookkeeping fields left out of what readers get.
_HIDDEN = {"_id": 0, "snapshot_id": 0}


def recommendable_services(snapshot_id: str | None = None) -> list[dict]:
    """Services with a recommendable status, ordered by marketplace id; each is the
    stored service (marketplace_id, name, status, categories, ...). [] without data."""
    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        return []
    found = Service._get_collection().find({"snapshot_id": snapshot_id, "recommendable": True}, _HIDDEN)
    return sorted(found, key=lambda service: service["marketplace_id"])


def user_by_aai_uid(aai_uid: str) -> int | None:
    """The marketplace id of the user with this federated identity in the active snapshot."""
    snapshot_id = active_snapshot_id()
    if snapshot_id is None or not isinstance(aai_uid, str):
        return None  # never pass a non-string (an operator object) into a query
    user = MarketUser._get_collection().find_one(
        {"snapshot_id": snapshot_id, "aai_uid": aai_uid}, {"marketplace_id": 1}
    )
    return user["marketplace_id"] if user else None


def counts(snapshot_id: str) -> dict:
    """Items stored per dump key for a snapshot, counted in the database."""
    return {key: count_items(key, snapshot_id) for key in DUMP_COLLECTIONS}


def snapshot_summary(snapshot: DatasetSnapshot, active_id: str | None) -> dict:
    return {
        "id": snapshot.id,
        "active": snapshot.id == active_id,
        "status": snapshot.status,
        "source": snapshot.source,
        "sequence": snapshot.sequence,
        "checksum": snapshot.checksum,
        "counts": snapshot.counts,
        "problem_counts": {kind: problem["count"] for kind, problem in snapshot.problems.items()},
        "dump_bytes": snapshot.dump_bytes,
        "error": snapshot.error,
        "created_at": snapshot.created_at,
        "ingested_at": snapshot.ingested_at,
        "activated_at": snapshot.activated_at,
        "training_requested_at": snapshot.training_requested_at,
    }


def list_snapshots(limit: int = 50) -> dict:
    """The latest received snapshots first, and which one is active."""
    active_id = active_snapshot_id()
    latest = DatasetSnapshot.objects.order_by("-sequence").limit(limit)
    return {"active_snapshot_id": active_id, "datasets": [snapshot_summary(s, active_id) for s in latest]}


def describe_snapshot(snapshot_id: str) -> dict:
    """One snapshot with its problems in full; NotFound for an unknown id."""
    snapshot = get_snapshot(snapshot_id)
    return {**snapshot_summary(snapshot, active_snapshot_id()), "problems": snapshot.problems}
