"""Dataset snapshots: one per distinct dump, and the pointer to the active one.

Every marketplace document carries the `snapshot_id` it was ingested into; readers
see only the active snapshot, so a new dump becomes visible in one pointer switch.

A snapshot's `status` changes only through the transitions of
app/storage/snapshot_lifecycle.py, which describes its life cycle. Writing
marketplace documents takes the one writer lease defined here.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    IntField,
    ObjectIdField,
    StringField,
)
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.errors import ServiceUnavailable, SnapshotNotFound
from app.storage.connection import database
from app.storage.jobs import running_job, utcnow

SNAPSHOT_STATUSES = ("received", "ingesting", "ready", "active", "superseded", "failed", "retired")
POINTER_ID = "marketplace"
WRITER_LEASE_ID = "marketplace-documents"
LEASE_SECONDS = 120  # a holder renews after every batch, far more often than this
LEASE_WAIT_SECONDS = 300  # within the task's soft time limit; a holder yields within a batch
LEASE_POLL_SECONDS = 0.5
# Snapshots the demo loaders make: their data is dropped once a marketplace's own dump is active
# (app/marketplace/demo_data.py).
DEMO_SOURCES = ("movielens", "seed")


class DatasetSnapshot(Document):
    id = StringField(primary_key=True)
    checksum = StringField(required=True, unique=True)  # sha256 of the canonical dump
    sequence = IntField(required=True)  # order in which dumps were received: the later wins
    source = StringField(required=True)  # "api", or a demo source: "movielens", "seed"
    status = StringField(required=True, default="received", choices=SNAPSHOT_STATUSES)
    counts = DictField()  # documents per collection
    read_bounds = DictField()  # dump key → window_bounds of its ids: bulk readers' windows
    problems = DictField()  # e.g. references to ids the dump does not contain
    dump_file_id = ObjectIdField()  # the raw dump, compressed, in GridFS
    serving_file_id = ObjectIdField()  # what API workers load to serve it (app/marketplace/serving_catalogue.py)
    dump_bytes = IntField()  # size of the canonical JSON before compression
    has_documents = BooleanField(default=False)  # some of its documents may be stored
    error = StringField()
    created_at = DateTimeField(required=True, default=utcnow)
    ingested_at = DateTimeField()
    activated_at = DateTimeField()
    training_requested_at = DateTimeField()
    demo_dropped_at = DateTimeField()  # a demo snapshot: when its actions and events were dropped

    meta = {"collection": "dataset_snapshots", "indexes": ["-sequence", "status", "-activated_at"]}

    @property
    def complete(self) -> bool:
        """Are all of its documents stored (so it can be switched to without ingesting)?"""
        return self.ingested_at is not None and bool(self.has_documents)


class ActiveSnapshot(Document):
    """The single pointer document: which snapshot every read sees."""

    id = StringField(primary_key=True, default=POINTER_ID)
    snapshot_id = StringField(required=True)
    sequence = IntField(required=True)
    switched_at = DateTimeField(required=True, default=utcnow)

    meta = {"collection": "active_snapshot"}


class DatasetWriterLease(Document):
    """Who may write or delete marketplace documents now: one ingestion or pruning at a
    time. A holder renews it while it works; a crashed holder's lease expires, or is
    released at once when its job is found killed (app/lost_jobs.py)."""

    id = StringField(primary_key=True, default=WRITER_LEASE_ID)
    holder = StringField(required=True)
    expires_at = DateTimeField(required=True)
    job_id = StringField()  # the background job holding it, if any

    meta = {"collection": "dataset_writer_lease"}


class DatasetBusy(ServiceUnavailable):
    def __init__(self):
        super().__init__("another dump is being written for too long", {"lease": "not free in time"})


class LeaseLost(RuntimeError):
    """Our writer lease expired and another worker took it: stop writing at once."""


def get_snapshot(snapshot_id: str) -> DatasetSnapshot:
    """The snapshot record; SnapshotNotFound (a NotFound) for an unknown or deleted id."""
    snapshot = DatasetSnapshot.objects(id=snapshot_id).first()
    if snapshot is None:
        raise SnapshotNotFound(snapshot_id)
    return snapshot


def snapshot_exists(snapshot_id: str) -> bool:
    return DatasetSnapshot.objects(id=snapshot_id).only("id").first() is not None


def active_snapshot_id() -> str | None:
    pointer = ActiveSnapshot.objects(id=POINTER_ID).only("snapshot_id").first()
    return pointer.snapshot_id if pointer else None


def next_sequence(name: str = "dataset_snapshots") -> int:
    """The next number of an atomic counter (1, 2, ...), safe across processes; increasing,
    with a gap where a first increment raced another one."""
    for _ in range(5):
        try:
            counter = database()["counters"].find_one_and_update(
                {"_id": name}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # two first increments both tried to insert the counter
            continue
        if counter is not None:  # SecantusDB answers None to the loser of that race (two dumps at once)
            return counter["value"]
    raise ServiceUnavailable("the dataset counter could not be incremented, retry later", {"counter": name})


def switch_active(snapshot_id: str, sequence: int) -> tuple[bool, str | None]:
    """Point reads at `snapshot_id` unless a dump received later is already active.

    One atomic update, conditional on the pointer's sequence being lower (an
    upsert for the very first snapshot). Returns (switched, previously active id).
    """
    pointer = ActiveSnapshot._get_collection()
    try:
        before = pointer.find_one_and_update(
            {"_id": POINTER_ID, "sequence": {"$lt": sequence}},
            {"$set": {"snapshot_id": snapshot_id, "sequence": sequence, "switched_at": utcnow()}},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
    except DuplicateKeyError:  # the pointer exists with a sequence >= ours: a later dump won
        return False, None
    return True, before["snapshot_id"] if before else None


def refresh_active_sequence(snapshot_id: str, sequence: int) -> None:
    """The active snapshot's dump was received again: it counts as the latest, so a
    dump received before this second copy can no longer replace it."""
    ActiveSnapshot._get_collection().update_one(
        {"_id": POINTER_ID, "snapshot_id": snapshot_id}, {"$max": {"sequence": sequence}}
    )


def acquire_writer_lease(holder: str, seconds: float) -> bool:
    """Take the writer lease if it is free, expired or already ours."""
    now = utcnow()
    try:
        lease = DatasetWriterLease._get_collection().find_one_and_update(
            {"_id": WRITER_LEASE_ID, "$or": [{"expires_at": {"$lt": now}}, {"holder": holder}]},
            {"$set": {"holder": holder, "expires_at": now + timedelta(seconds=seconds), "job_id": running_job.get()}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:  # held by someone else, not expired
        return False
    # Ours only if the document says so: SecantusDB answers None, not a duplicate key, to
    # the loser of two racing inserts (two dumps at once on a free lease).
    return lease is not None and lease["holder"] == holder


def renew_writer_lease(holder: str, seconds: float) -> bool:
    """Extend our lease; False if it is no longer ours (it expired and was taken)."""
    renewed = DatasetWriterLease._get_collection().update_one(
        {"_id": WRITER_LEASE_ID, "holder": holder},
        {"$set": {"expires_at": utcnow() + timedelta(seconds=seconds)}},
    )
    return renewed.matched_count == 1


def release_writer_lease(holder: str) -> None:
    DatasetWriterLease._get_collection().delete_one({"_id": WRITER_LEASE_ID, "holder": holder})


def release_writer_lease_of_job(job_id: str) -> bool:
    """A killed job's lease, freed for its next run instead of after LEASE_SECONDS."""
    deleted = DatasetWriterLease._get_collection().delete_one({"_id": WRITER_LEASE_ID, "job_id": job_id})
    return deleted.deleted_count == 1


class WriterLease:
    """Our hold on the right to write marketplace documents (one holder at a time)."""

    def __init__(self, purpose: str):
        self.holder = f"{purpose}:{uuid.uuid4().hex[:12]}"

    def acquire(self, give_up: Callable[[], bool]) -> bool:
        """Wait for the lease; False as soon as `give_up()` says the work is no longer wanted."""
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        while not acquire_writer_lease(self.holder, LEASE_SECONDS):
            if give_up():
                return False
            if time.monotonic() > deadline:
                raise DatasetBusy()
            time.sleep(LEASE_POLL_SECONDS)
        return True

    def renew(self) -> bool:
        """Extend the lease (True), or raise LeaseLost if another worker took it."""
        if not renew_writer_lease(self.holder, LEASE_SECONDS):
            raise LeaseLost(self.holder)
        return True

    def release(self) -> None:
        release_writer_lease(self.holder)
