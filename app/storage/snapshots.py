"""Dataset snapshots: one per distinct dump, and the pointer to the active one.

Every marketplace document carries the `snapshot_id` it was ingested into; readers
see only the active snapshot, so a new dump becomes visible in one pointer switch.
"""
from __future__ import annotations

from mongoengine import DateTimeField, DictField, Document, IntField, ObjectIdField, StringField

from app.storage.jobs import utcnow

SNAPSHOT_STATUSES = ("received", "ingesting", "ready", "active", "superseded", "failed", "retired")
POINTER_ID = "marketplace"


class DatasetSnapshot(Document):
    id = StringField(primary_key=True)
    checksum = StringField(required=True, unique=True)  # sha256 of the canonical dump
    sequence = IntField(required=True)  # order in which dumps were received: the later wins
    source = StringField(required=True)  # "api", "movielens", "seed", ...
    status = StringField(required=True, default="received", choices=SNAPSHOT_STATUSES)
    counts = DictField()  # documents per collection
    problems = DictField()  # e.g. references to ids the dump does not contain
    dump_file_id = ObjectIdField()  # the raw dump, compressed, in GridFS
    error = StringField()
    created_at = DateTimeField(required=True, default=utcnow)
    ingested_at = DateTimeField()
    activated_at = DateTimeField()

    meta = {"collection": "dataset_snapshots", "indexes": ["-sequence", "status"]}


class ActiveSnapshot(Document):
    """The single pointer document: which snapshot every read sees."""

    id = StringField(primary_key=True, default=POINTER_ID)
    snapshot_id = StringField(required=True)
    sequence = IntField(required=True)
    switched_at = DateTimeField(required=True, default=utcnow)

    meta = {"collection": "active_snapshot"}


def active_snapshot_id() -> str | None:
    pointer = ActiveSnapshot.objects(id=POINTER_ID).only("snapshot_id").first()
    return pointer.snapshot_id if pointer else None
