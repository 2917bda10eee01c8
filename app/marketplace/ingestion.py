"""Ingestion: a stored dump's documents written into its snapshot, then switched in.

    ingest_snapshot  (worker)  take the writer lease → write the documents in bulk → ready
                               → switch the pointer → active (training requested)

Dumps are ordered by receipt (an atomic counter): the one received last wins, an
earlier one still ingesting gives up as "superseded". Writing marketplace documents
happens under the one writer lease, so two dumps never write at once and pruning
(app/marketplace/pruning.py) never races an ingestion. Every status change is a
named transition of app/storage/snapshot_lifecycle.py. Safe to re-run at any point:
a re-run deletes the documents an interrupted run left before writing them again.
"""
from __future__ import annotations

import logging
import time

from app.errors import SnapshotNotFound
from app.marketplace import demo_data, serving_catalogue
from app.marketplace.dump_problems import find_problems
from app.progress import Progress, no_progress
from app.storage import snapshot_lifecycle as lifecycle
from app.storage.marketplace import (
    collection_of,
    delete_snapshot_documents,
    document_batches,
    drop_retired_indexes,
    window_bounds,
)
from app.storage.raw_dumps import raw_dump
from app.storage.snapshots import (
    DatasetBusy,
    DatasetSnapshot,
    LeaseLost,
    WriterLease,
    active_snapshot_id,
    get_snapshot,
    switch_active,
)
from app.wire.dump import DUMP_KEYS

log = logging.getLogger(__name__)


def ingest_snapshot(snapshot_id: str, progress: Progress = no_progress) -> dict:
    """Write a stored dump's documents into its snapshot, then make it active unless a dump
    received later wins. The outcome's "status" is active, unchanged (it already was) or
    superseded; when it wrote the documents, "seconds" has the time each step took. Once a
    marketplace's own dump is active, demo data is dropped ("demo_data_dropped")."""
    outcome = _ingest(get_snapshot(snapshot_id), progress)
    if outcome["status"] in ("active", "unchanged"):  # (unchanged: a re-run may find a drop half done)
        # Before the caller queues training, so no model of this marketplace learns from the demo.
        dropped = demo_data.after_switch(snapshot_id, progress)
        if dropped:
            outcome["demo_data_dropped"] = dropped
    return outcome


def _ingest(snapshot: DatasetSnapshot, progress: Progress) -> dict:
    if active_snapshot_id() == snapshot.id:
        return _outcome(snapshot.id, "unchanged")
    lease = WriterLease(f"ingest:{snapshot.id}")
    try:
        if not lease.acquire(give_up=lambda: _superseded(snapshot.id)):
            return _outcome(snapshot.id, "superseded")
    except DatasetBusy:
        # Failed, not left "received": a received dump would make every older one give up.
        lifecycle.failed(snapshot.id, "the writer lease stayed busy; send the dump again")
        raise
    try:
        return _ingest_holding_lease(get_snapshot(snapshot.id), lease, progress)  # as it is now we hold the lease
    finally:
        lease.release()


def _ingest_holding_lease(snapshot: DatasetSnapshot, lease: WriterLease, progress: Progress) -> dict:
    if active_snapshot_id() == snapshot.id:
        return _outcome(snapshot.id, "unchanged")
    if _superseded(snapshot.id):
        return _outcome(snapshot.id, "superseded")
    seconds: dict[str, float] = {}
    if not snapshot.complete:
        try:
            finished = _write_documents(snapshot, lease, progress, seconds)
        except LeaseLost:
            raise
        except Exception as exc:
            lifecycle.failed(snapshot.id, f"{type(exc).__name__}: {exc}")
            raise
        if not finished:
            return _outcome(snapshot.id, "superseded")
    outcome = _switch(snapshot, progress)
    if seconds:
        outcome["seconds"] = seconds
    return outcome


def _write_documents(snapshot: DatasetSnapshot, lease: WriterLease, progress: Progress, seconds: dict) -> bool:
    """All documents of the snapshot, in bulk; False if a later dump made them moot.
    `seconds` gets the time each step took: loading, checking references, deleting,
    writing each dump key (building its documents and inserting them), and
    bookkeeping (status, progress, lease)."""
    mark = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[step] = seconds.get(step, 0.0) + now - mark
        mark = now

    lifecycle.ingesting(snapshot.id)
    progress("loading", 1)
    lap("bookkeeping")
    dump = raw_dump(snapshot.id)
    lap("loading")
    progress("checking references", 5)
    problems = find_problems(dump)
    lap("checking references")
    if snapshot.has_documents:  # (as read before this run claimed it)
        progress("deleting an interrupted run's documents", 8)
        delete_snapshot_documents(snapshot.id, go_on=lease.renew)
        lap("deleting")
    drop_retired_indexes()
    lap("bookkeeping")
    total, written = sum(len(dump[key]) for key in DUMP_KEYS), 0
    for key, batch, items in document_batches(dump, snapshot.id):
        collection_of(key).insert_many(batch, ordered=False)
        lap(key)
        written += items
        progress(f"writing {key}", 10 + 80 * written / max(total, 1), written=written, total=total)
        lease.renew()
        if _superseded(snapshot.id):
            return False
        lap("bookkeeping")
    serving_catalogue.write(snapshot.id, dump)
    lap("serving catalogue")
    bounds = {"services": window_bounds(item["id"] for item in dump["services"]),
              "users": window_bounds(item["aai_uid"] for item in dump["users"] if isinstance(item.get("aai_uid"), str))}
    lifecycle.ready(snapshot.id, {key: len(dump[key]) for key in DUMP_KEYS}, bounds, problems)
    lap("bookkeeping")
    seconds.update({step: round(value, 2) for step, value in seconds.items()})
    log.info("dump written", extra={"snapshot_id": snapshot.id, "seconds": seconds})
    if problems:
        log.warning("dump has dangling references", extra={"snapshot_id": snapshot.id, "problems": list(problems)})
    return True


def _superseded(snapshot_id: str) -> bool:
    """Was a later dump received? Then mark this one superseded and say so, unless it
    was itself received again meanwhile (its sequence changed under us)."""
    sequence = DatasetSnapshot.objects(id=snapshot_id).scalar("sequence").first()
    if sequence is None:  # its record was deleted under us
        raise SnapshotNotFound(snapshot_id)
    if not DatasetSnapshot.objects(sequence__gt=sequence, status__ne="failed").only("id").first():
        return False
    return lifecycle.superseded(snapshot_id, sequence)


def _switch(snapshot: DatasetSnapshot, progress: Progress) -> dict:
    progress("switching", 95)
    switched, previous = switch_active(snapshot.id, get_snapshot(snapshot.id).sequence)  # (received again meanwhile?)
    if not switched:
        lifecycle.superseded(snapshot.id)
        return _outcome(snapshot.id, "superseded")
    lifecycle.activated(snapshot.id, previous)
    log.info("dataset snapshot active", extra={"snapshot_id": snapshot.id, "previous": previous})
    log.info("training requested", extra={"snapshot_id": snapshot.id})
    return _outcome(snapshot.id, "active")


def _outcome(snapshot_id: str, status: str) -> dict:
    snapshot = get_snapshot(snapshot_id)
    return {
        "status": status,
        "snapshot_id": snapshot.id,
        "active_snapshot_id": active_snapshot_id(),
        "counts": snapshot.counts,
        "problems": snapshot.problems,
    }
