"""Pruning: the documents of snapshots no longer kept are deleted (their records and raw
dumps stay, for lineage). Under the writer lease, so it never races an ingestion; it
yields to a dump waiting to be ingested, which prunes again after its switch."""
from __future__ import annotations

from flask import current_app

from app.marketplace import serving_catalogue
from app.progress import Progress, no_progress
from app.storage import snapshot_lifecycle as lifecycle
from app.storage.marketplace import delete_snapshot_documents
from app.storage.snapshots import ActiveSnapshot, DatasetSnapshot, WriterLease, active_snapshot_id


def snapshots_kept() -> list[str]:
    """The active snapshot and the ones most recently active before it."""
    active = active_snapshot_id()
    if active is None:
        return []
    earlier_kept = current_app.config["DATASET_SNAPSHOTS_KEPT"] - 1
    if earlier_kept < 1:  # (a limit of 0 would mean no limit)
        return [active]
    earlier = DatasetSnapshot.objects(id__ne=active, activated_at__ne=None, ingested_at__ne=None)
    return [active, *earlier.order_by("-activated_at").limit(earlier_kept).scalar("id")]


def _dump_waiting() -> bool:
    """Is a dump received after the active one waiting to be ingested?"""
    pointer = ActiveSnapshot.objects.only("sequence").first()
    newer = DatasetSnapshot.objects(status="received", sequence__gt=pointer.sequence if pointer else 0)
    return newer.only("id").first() is not None


def prune_snapshots(progress: Progress = no_progress) -> dict:
    """Delete the documents of every snapshot but the kept ones (their records and
    raw dumps stay, for lineage). Yields to a dump waiting to be ingested: the
    ingestion prunes again after its switch."""
    lease = WriterLease("prune")
    if not lease.acquire(give_up=lambda: True):
        return {"status": "skipped", "reason": "a dump is being ingested; it prunes after its switch"}
    try:
        kept = snapshots_kept()
        victims = list(DatasetSnapshot.objects(has_documents=True, id__nin=kept).scalar("id")) if kept else []
        for done, snapshot_id in enumerate(victims):
            progress("deleting documents", 100 * done / len(victims), snapshot_id=snapshot_id)
            lifecycle.retiring(snapshot_id)

            if not delete_snapshot_documents(snapshot_id, go_on=lambda: lease.renew() and not _dump_waiting()):
                return {"status": "interrupted", "kept": kept, "reason": "a dump is waiting to be ingested"}
            serving_catalogue.delete(snapshot_id)
            lifecycle.documents_deleted(snapshot_id)
        return {"status": "pruned", "kept": kept, "retired": victims}
    finally:
        lease.release()
