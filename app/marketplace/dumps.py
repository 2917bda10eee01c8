"""Full marketplace dumps: validated, stored raw, ingested into a dataset snapshot,
then made active in one pointer switch.

    receive_dump     (API)     validate → store the raw dump → enqueue ingestion
    ingest_snapshot  (worker)  write the documents in bulk → switch → request retraining
    prune_snapshots  (worker)  delete documents of snapshots no longer kept

Dumps are ordered by receipt (an atomic counter): the one received last wins, an
earlier one still ingesting gives up as "superseded". Writing and deleting
marketplace documents happens under one writer lease, so two dumps never write
at once and pruning never races an ingestion.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from dataclasses import dataclass

import orjson
from flask import current_app
from mongoengine import NotUniqueError

from app.errors import BrokerUnavailable, InvalidInput, SnapshotNotFound
from app.jobs import start_job
from app.marketplace import demo_data, serving_catalogue
from app.marketplace.dump_schema import (
    DUMP_KEYS,
    duplicate_ids,
    is_valid_dump,
    schema_errors,
)
from app.offload import cpu_bound, without_gc
from app.progress import Progress, no_progress
from app.queues import INGEST_DUMP
from app.storage.jobs import Job, utcnow
from app.storage.marketplace import (
    collection_of,
    delete_snapshot_documents,
    document_batches,
    drop_retired_indexes,
    window_bounds,
)
from app.storage.raw_dumps import bucket, raw_dump
from app.storage.snapshots import (
    ActiveSnapshot,
    DatasetBusy,
    DatasetSnapshot,
    LeaseLost,
    WriterLease,
    active_snapshot_id,
    get_snapshot,
    next_sequence,
    refresh_active_sequence,
    switch_active,
)

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 1000  # bounds the 400 body of a dump that is wrong everywhere
GZIP_LEVEL = 1  # latest-small's 5.6 MB dump: 8.3x smaller in 15 ms; level 3 is 5% smaller in 21 ms, 6 halves the speed


class InvalidDump(InvalidInput):
    def __init__(self, errors: dict, more: bool = False):
        listed = f"first {len(errors)} problems listed" if more else f"{len(errors)} problem(s)"
        super().__init__(f"Input payload validation failed: {listed}", errors)


# --- Receiving ---------------------------------------------------------------

def validate_dump(payload: dict) -> None:
    """Return quietly for a valid dump; raise InvalidDump naming every bad field."""
    if not is_valid_dump(payload):
        errors = schema_errors(payload, MAX_LISTED_ERRORS)
        if errors:
            raise InvalidDump(errors, more=len(errors) >= MAX_LISTED_ERRORS)
        log.warning("the compiled dump check rejected a dump that jsonschema accepts; accepted")
    errors = duplicate_ids(payload, MAX_LISTED_ERRORS)
    if errors:
        raise InvalidDump(errors, more=len(errors) >= MAX_LISTED_ERRORS)


def store_dump(payload: dict, source: str = "api") -> DatasetSnapshot:
    """Validate a dump, store its canonical JSON gzipped in GridFS and record its
    snapshot. The same dump again returns the existing snapshot (by checksum),
    renumbered as the latest received."""
    return _store_prepared(_validated_and_prepared(payload), source)


def receive_dump(payload: dict, source: str = "api") -> Job:
    """Validate and store a dump, then start (or join) the job that ingests it.

    A dump identical to the active one still gets a job; it finishes at once
    with {"status": "unchanged"}.
    """
    # Validating, canonicalising and compressing are the CPU-long part of a dump upload.
    snapshot = _store_prepared(cpu_bound(without_gc, _validated_and_prepared, payload), source)
    try:
        return start_job(INGEST_DUMP, snapshot.id, key=snapshot.id)
    except BrokerUnavailable:
        # A received snapshot without a job would make every earlier dump give up.
        DatasetSnapshot.objects(id=snapshot.id, status="received").update_one(
            set__status="failed", set__error="its ingestion could not be enqueued; send it again"
        )
        raise


def _canonical_json(payload: dict) -> bytes:
    """The dump's keys only, sorted, compact: equal dumps give equal bytes.

    orjson writes them (12 ms for latest-small's 5.6 MB dump, Python's json 53 ms) and
    its bytes are Python's `json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)` for everything the dump model has, so the checksums of dumps
    stored before are unchanged. They differ only in fields the model does not have: a
    float's exponent is written 1e-7 (not 1e-07), and NaN or Infinity is stored as null.
    What orjson cannot write (an integer beyond 64 bits) is written by Python's json."""
    dump = {key: payload[key] for key in DUMP_KEYS}
    try:
        return orjson.dumps(dump, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        pass
    try:
        return json.dumps(dump, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:  # "\ud800" parses to a str that no database can store
        raise InvalidDump({"$": f"a string is not valid Unicode ({exc.reason})"}) from exc


@dataclass(frozen=True)
class PreparedDump:
    """What is stored of a valid dump: its canonical JSON gzipped, with its checksum."""

    checksum: str
    gzipped: bytes
    canonical_bytes: int
    counts: dict[str, int]


def _prepare(payload: dict) -> PreparedDump:
    """CPU only, no I/O (see `receive_dump`)."""
    canonical = _canonical_json(payload)
    return PreparedDump(
        checksum=hashlib.sha256(canonical).hexdigest(),
        gzipped=gzip.compress(canonical, compresslevel=GZIP_LEVEL, mtime=0),
        canonical_bytes=len(canonical),
        counts={key: len(payload[key]) for key in DUMP_KEYS},
    )


def _validated_and_prepared(payload: dict) -> PreparedDump:
    validate_dump(payload)
    return _prepare(payload)


def _store_prepared(prepared: PreparedDump, source: str) -> DatasetSnapshot:
    checksum = prepared.checksum
    existing = DatasetSnapshot.objects(checksum=checksum).first()
    if existing:
        return _received_again(existing)
    sequence = next_sequence()
    snapshot_id = f"{utcnow():%Y%m%d-%H%M%S}-{checksum[:8]}"
    file_id = bucket().upload_from_stream(
        f"{snapshot_id}.json.gz",
        prepared.gzipped,
        metadata={"snapshot_id": snapshot_id, "checksum": checksum, "source": source},
    )
    snapshot = DatasetSnapshot(
        id=snapshot_id, checksum=checksum, sequence=sequence, source=source, dump_file_id=file_id,
        dump_bytes=prepared.canonical_bytes, counts=prepared.counts,
    )
    try:
        snapshot.save(force_insert=True)
    except NotUniqueError:  # the same dump arrived twice at once: the other request stored it
        bucket().delete(file_id)
        return _received_again(DatasetSnapshot.objects.get(checksum=checksum))
    log.info("dump stored", extra={"snapshot_id": snapshot_id, "sequence": sequence, "bytes": prepared.canonical_bytes})
    return snapshot


def _received_again(snapshot: DatasetSnapshot) -> DatasetSnapshot:
    """A dump we already have was sent again: it is now the latest received."""
    sequence = next_sequence()
    changes = {"set__sequence": sequence}
    if not snapshot.complete and snapshot.status in ("failed", "retired", "superseded"):
        changes["set__status"] = "received"
    DatasetSnapshot.objects(id=snapshot.id).update_one(**changes)
    refresh_active_sequence(snapshot.id, sequence)  # if it is active, it stays so
    return snapshot.reload()


# --- References the dump cannot resolve ------------------------------------

# (dump key, field, the dump key whose ids the field holds)
REFERENCES = (
    *(("services", field, field) for field in (
        "categories", "providers", "scientific_domains", "platforms", "target_users", "access_types",
        "access_modes", "trls", "life_cycle_statuses", "research_steps")),
    ("services", "resource_organisation", "providers"),
    ("services", "related_services", "services"),
    ("services", "required_services", "services"),
    ("users", "scientific_domains", "scientific_domains"),
    ("users", "categories", "categories"),
    ("users", "accessed_services", "services"),
    ("projects", "user_id", "users"),
    ("projects", "services", "services"),
)
PROBLEM_EXAMPLES = 5


def find_problems(dump: dict) -> dict:
    """What a valid dump still gets wrong, per kind: {"<key>/<field>": {reason,
    count, examples}}. Dangling references are kept as sent; readers decide."""
    ids = {key: {item["id"] for item in dump[key]} for key in DUMP_KEYS}
    problems = {}
    for key, field, target in REFERENCES:
        known, count, examples = ids[target], 0, []
        for item in dump[key]:
            for ref in _referenced_ids(item.get(field)):
                if ref not in known:
                    count += 1
                    if len(examples) < PROBLEM_EXAMPLES:
                        examples.append({"id": item["id"], "missing": ref})
        if count:
            reason = f"refers to {target} ids the dump does not contain"
            problems[f"{key}/{field}"] = {"reason": reason, "count": count, "examples": examples}
    no_status = [service["id"] for service in dump["services"] if service.get("status") is None]
    if no_status:
        problems["services/status"] = {
            "reason": "no status: not recommendable", "count": len(no_status),
            "examples": [{"id": sid} for sid in no_status[:PROBLEM_EXAMPLES]],
        }
    return problems


def _referenced_ids(value) -> list | tuple:
    """A reference field's ids: a list of them, one id, or none (absent optional field)."""
    if isinstance(value, list):
        return value
    return () if value is None else (value,)


# --- Ingesting ---------------------------------------------------------------

def ingest_snapshot(snapshot_id: str, progress: Progress = no_progress) -> dict:
    """Write a stored dump's documents into its snapshot, then make it active unless
    a dump received later wins. Safe to re-run at any point: a re-run deletes the
    documents an interrupted run left before writing them again. When it wrote the
    documents, the outcome has the seconds each step took ("seconds"). Once a
    marketplace's own dump is active, demo data is dropped ("demo_data_dropped")."""
    outcome = _ingest(snapshot_id, progress)
    if outcome["status"] in ("active", "unchanged"):  # (unchanged: a re-run may find a drop half done)
        # Before the caller queues retraining, so no model of this marketplace learns from the demo.
        dropped = demo_data.after_switch(snapshot_id, progress)
        if dropped:
            outcome["demo_data_dropped"] = dropped
    return outcome


def _ingest(snapshot_id: str, progress) -> dict:
    get_snapshot(snapshot_id)
    if active_snapshot_id() == snapshot_id:
        return _outcome(snapshot_id, "unchanged")
    lease = WriterLease(f"ingest:{snapshot_id}")
    try:
        if not lease.acquire(give_up=lambda: _superseded(snapshot_id)):
            return _outcome(snapshot_id, "superseded")
    except DatasetBusy:
        # Failed, not left "received": a received dump would make every older one give up.
        DatasetSnapshot.objects(id=snapshot_id).update_one(
            set__status="failed", set__error="the writer lease stayed busy; send the dump again"
        )
        raise
    try:
        return _ingest_holding_lease(snapshot_id, lease, progress)
    finally:
        lease.release()


def _ingest_holding_lease(snapshot_id: str, lease: WriterLease, progress) -> dict:
    snapshot = get_snapshot(snapshot_id)
    if active_snapshot_id() == snapshot_id:
        return _outcome(snapshot_id, "unchanged")
    if _superseded(snapshot_id):
        return _outcome(snapshot_id, "superseded")
    seconds = {}
    if not snapshot.complete:
        try:
            finished = _write_documents(snapshot, lease, progress, seconds)
        except LeaseLost:
            raise
        except Exception as exc:
            DatasetSnapshot.objects(id=snapshot_id).update_one(
                set__status="failed", set__error=f"{type(exc).__name__}: {exc}"
            )
            raise
        if not finished:
            return _outcome(snapshot_id, "superseded")
    outcome = _switch(snapshot_id, progress)
    if seconds:
        outcome["seconds"] = seconds
    return outcome


def _write_documents(snapshot: DatasetSnapshot, lease: WriterLease, progress, seconds: dict) -> bool:
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

    DatasetSnapshot.objects(id=snapshot.id).update_one(
        set__status="ingesting", set__has_documents=True, unset__ingested_at=True, unset__error=True
    )
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
    counts = {key: len(dump[key]) for key in DUMP_KEYS}
    bounds = {"services": window_bounds(item["id"] for item in dump["services"]),
              "users": window_bounds(item["aai_uid"] for item in dump["users"] if isinstance(item.get("aai_uid"), str))}
    DatasetSnapshot.objects(id=snapshot.id).update_one(
        set__status="ready", set__counts=counts, set__read_bounds=bounds, set__problems=problems,
        set__ingested_at=utcnow()
    )
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
    return DatasetSnapshot.objects(id=snapshot_id, sequence=sequence, status__ne="active").update_one(
        set__status="superseded"
    ) == 1


def _switch(snapshot_id: str, progress) -> dict:
    progress("switching", 95)
    snapshot = get_snapshot(snapshot_id)
    switched, previous = switch_active(snapshot.id, snapshot.sequence)
    if not switched:
        DatasetSnapshot.objects(id=snapshot.id, status__ne="active").update_one(set__status="superseded")
        return _outcome(snapshot_id, "superseded")
    if previous and previous != snapshot.id:
        DatasetSnapshot.objects(id=previous).update_one(set__status="superseded")
    DatasetSnapshot.objects(id=snapshot.id).update_one(set__status="active", set__activated_at=utcnow())
    log.info("dataset snapshot active", extra={"snapshot_id": snapshot.id, "previous": previous})
    request_retraining(snapshot.id)
    return _outcome(snapshot_id, "active")


def _outcome(snapshot_id: str, status: str) -> dict:
    snapshot = get_snapshot(snapshot_id)
    return {
        "status": status,
        "snapshot_id": snapshot.id,
        "active_snapshot_id": active_snapshot_id(),
        "counts": snapshot.counts,
        "problems": snapshot.problems,
    }


def request_retraining(snapshot_id: str) -> None:
    """Record that models should be trained on a newly active snapshot. The ingestion
    task (app/tasks.py) then queues the training jobs; a synchronous caller (the CLI)
    trains itself."""
    DatasetSnapshot.objects(id=snapshot_id).update_one(set__training_requested_at=utcnow())
    log.info("training requested", extra={"snapshot_id": snapshot_id})


# --- Pruning -----------------------------------------------------------------

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
            DatasetSnapshot.objects(id=snapshot_id).update_one(unset__ingested_at=True)
            DatasetSnapshot.objects(id=snapshot_id, status__in=("superseded", "ready", "ingesting")).update_one(
                set__status="retired"
            )

            if not delete_snapshot_documents(snapshot_id, go_on=lambda: lease.renew() and not _dump_waiting()):
                return {"status": "interrupted", "kept": kept, "reason": "a dump is waiting to be ingested"}
            serving_catalogue.delete(snapshot_id)
            DatasetSnapshot.objects(id=snapshot_id).update_one(set__has_documents=False)
        return {"status": "pruned", "kept": kept, "retired": victims}
    finally:
        lease.release()
