"""A snapshot's life cycle: every change of its `status` is one of these transitions.

    received ──▶ ingesting ──▶ ready ──▶ active ──▶ superseded ──▶ retired
        │            │           │                      ▲
        └────────────┴───────────┴──▶ failed            │
        └────────────┴───────────┴──────────────────────┘ (a later dump won)

`superseded` means a later dump won (its documents may still be kept as the previous
dataset); `retired` means its documents were deleted, while the record and the raw
dump stay for lineage; `failed` says why in `error`, and sending the dump again
starts it over (`received_again`). `ingested_at` is set exactly while the
snapshot's documents are complete. The active one is named by the pointer
(snapshots.switch_active), not by its status alone.
"""
from __future__ import annotations

from app.storage.jobs import utcnow
from app.storage.snapshots import DatasetSnapshot, refresh_active_sequence

ENDED = ("failed", "retired", "superseded")  # what sending the same dump again starts over


def received_again(snapshot: DatasetSnapshot, sequence: int) -> DatasetSnapshot:
    """The same dump arrived again: it is now the latest received (`sequence`), and one that
    ended without its documents complete is received anew."""
    changes = {"set__sequence": sequence}
    if not snapshot.complete and snapshot.status in ENDED:
        changes["set__status"] = "received"
    DatasetSnapshot.objects(id=snapshot.id).update_one(**changes)
    refresh_active_sequence(snapshot.id, sequence)  # if it is active, it stays so
    return snapshot.reload()


def ingesting(snapshot_id: str) -> None:
    """Its documents are being written (again: an interrupted run's are deleted first)."""
    DatasetSnapshot.objects(id=snapshot_id).update_one(
        set__status="ingesting", set__has_documents=True, unset__ingested_at=True, unset__error=True
    )


def ready(snapshot_id: str, counts: dict, read_bounds: dict, problems: dict) -> None:
    """Every document is written; it can be switched in."""
    DatasetSnapshot.objects(id=snapshot_id).update_one(
        set__status="ready", set__counts=counts, set__read_bounds=read_bounds, set__problems=problems,
        set__ingested_at=utcnow()
    )


def failed(snapshot_id: str, error: str, *, only_while: tuple[str, ...] = ()) -> None:
    """It will not become active; `error` says why. `only_while`: only from these statuses
    (a run that got further keeps the status it reached)."""
    query = {"id": snapshot_id, **({"status__in": list(only_while)} if only_while else {})}
    DatasetSnapshot.objects(**query).update_one(set__status="failed", set__error=error)


def superseded(snapshot_id: str, sequence: int | None = None) -> bool:
    """A later dump won, unless this one is active; with `sequence`, only if it was not
    received again meanwhile. Whether it changed."""
    query = {"id": snapshot_id, "status__ne": "active", **({"sequence": sequence} if sequence is not None else {})}
    return DatasetSnapshot.objects(**query).update_one(set__status="superseded") == 1


def activated(snapshot_id: str, previous: str | None) -> None:
    """The pointer names it now (snapshots.switch_active); the one it replaced is superseded.
    Models are to be trained on it (`training_requested_at`)."""
    if previous and previous != snapshot_id:
        DatasetSnapshot.objects(id=previous).update_one(set__status="superseded")
    now = utcnow()
    DatasetSnapshot.objects(id=snapshot_id).update_one(set__status="active", set__activated_at=now,
                                                       set__training_requested_at=now)


def retiring(snapshot_id: str) -> None:
    """Its documents are about to be deleted: no longer complete, and retired unless active
    or failed."""
    DatasetSnapshot.objects(id=snapshot_id).update_one(unset__ingested_at=True)
    DatasetSnapshot.objects(id=snapshot_id, status__in=("superseded", "ready", "ingesting")).update_one(
        set__status="retired"
    )


def documents_deleted(snapshot_id: str) -> None:
    DatasetSnapshot.objects(id=snapshot_id).update_one(set__has_documents=False)
