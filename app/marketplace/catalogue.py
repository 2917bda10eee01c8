"""What the active dataset snapshot holds: the reads recommenders and trainers need.

Every read names a snapshot; by default the active one, so a caller sees one
consistent dataset even while a new dump is being ingested.
"""
from __future__ import annotations

from collections.abc import Iterator

from app.storage.marketplace import (
    DUMP_COLLECTIONS,
    WINDOW_FIELD,
    MarketUser,
    count_items,
    read_in_windows,
    window_bounds,
)
from app.storage.snapshots import DatasetSnapshot, active_snapshot_id, get_snapshot

# Bookkeeping fields left out of what readers get.
_HIDDEN = {"_id": 0, "snapshot_id": 0}


def recommendable_services(snapshot_id: str | None = None) -> list[dict]:
    """Services with a recommendable status, ordered by marketplace id; each is the
    stored service (marketplace_id, name, status, categories, ...). [] without data."""
    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        return []
    found = [service for service in stored_services(snapshot_id, _HIDDEN) if service["recommendable"]]
    return sorted(found, key=lambda service: service["marketplace_id"])


def stored_services(snapshot_id: str, projection: dict) -> Iterator[dict]:
    """Every service of a snapshot, read in bounded windows (app/storage/pacing.py)."""
    return stored_documents("services", snapshot_id, projection)


def stored_users(snapshot_id: str, projection: dict) -> Iterator[dict]:
    """Every user of a snapshot, read in bounded windows of aai_uid."""
    return stored_documents("users", snapshot_id, projection)


def stored_documents(key: str, snapshot_id: str, projection: dict) -> Iterator[dict]:
    """Every document of a snapshot under `key` (services or users), in bounded windows. A
    snapshot ingested before its bounds were kept is read once whole, and its bounds are
    kept then."""
    snapshot = DatasetSnapshot.objects(id=snapshot_id).only("read_bounds").first()
    bounds = (snapshot.read_bounds or {}).get(key) if snapshot else None
    if bounds is not None or snapshot is None:
        yield from read_in_windows(key, snapshot_id, bounds, projection)
        return
    field, values = WINDOW_FIELD[key], []
    inclusive = any(value for name, value in projection.items() if name != "_id")
    for document in read_in_windows(key, snapshot_id, None, {**projection, field: 1} if inclusive else projection):
        values.append(document.get(field))
        yield document
    kept = window_bounds(value for value in values if isinstance(value, int | str) and not isinstance(value, bool))
    DatasetSnapshot.objects(id=snapshot_id).update_one(**{f"set__read_bounds__{key}": kept})


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
