"""What visitors did and what they were shown: user actions, events and served
recommendations, the data engines learn from.

The API writes these collections in bulk with pymongo (`DurableInserts`); the
classes declare the fields and the indexes the readers need (journeys by visit,
histories by user and by visitor, bulk reads by time).
"""
from __future__ import annotations

import logging
import os
import threading
from collections import deque

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentField,
    FloatField,
    IntField,
    ListField,
    StringField,
)
from pymongo.errors import BulkWriteError, ConnectionFailure, ServerSelectionTimeoutError
from pymongo.write_concern import WriteConcern

from app.storage import time_buckets
from app.storage.connection import database_without_write_retries
from app.wire.events import EVENT_TYPES

log = logging.getLogger(__name__)

# In the journal of a majority of the replica set before the client hears "stored": a
# primary that fails over cannot take an acknowledged action with it. A one-node set
# (docker-compose, SecantusDB) is its own majority.
DURABLE = WriteConcern(w="majority", j=True)
DUPLICATE_KEY = 11000


class ActionRoot(EmbeddedDocument):
    """Where a journey started: e.g. a click in a recommendation panel."""

    type = StringField(required=True)
    panel_id = StringField()
    resource_type = StringField()
    resource_id = IntField()


class ActionSource(EmbeddedDocument):
    visit_id = StringField()  # null on the first page of a session
    page_id = StringField(required=True)
    root = EmbeddedDocumentField(ActionRoot)


class ActionTarget(EmbeddedDocument):
    visit_id = StringField(required=True)
    page_id = StringField(required=True)


class ActionDetails(EmbeddedDocument):
    type = StringField(required=True)
    text = StringField()
    order = BooleanField(required=True)


class UserAction(Document):
    """One edge between two page visits (the contract's user action)."""

    id = StringField(primary_key=True)  # the client's id, else a digest of the content
    user_id = IntField()
    aai_uid = StringField()
    unique_id = StringField(required=True)
    timestamp = DateTimeField(required=True)
    client_id = StringField()
    source = EmbeddedDocumentField(ActionSource, required=True)
    target = EmbeddedDocumentField(ActionTarget, required=True)
    action = EmbeddedDocumentField(ActionDetails, required=True)
    # The service the action itself names (source.root.resource_id); see app/marketplace/history.py.
    service_id = IntField()
    # An order without a service of its own: its journey's service, when known as it was stored.
    order_service_id = IntField()
    received_at = DateTimeField(required=True)
    demo = BooleanField()  # stored by a demo loader: dropped once a marketplace's own dump is active

    meta = {
        "collection": "user_actions",
        "strict": False,
        "indexes": [
            "source.visit_id",  # children of a visit (journeys)
            "target.visit_id",  # the action that led to a visit (journey of an order)
            ("user_id", "timestamp"),
            ("unique_id", "timestamp"),
            "timestamp",
        ],
    }


class Event(Document):
    """A generic interaction with one service (view, cart, rating...)."""

    id = StringField(primary_key=True)  # the client's id, else a digest of the content
    user_id = IntField()
    unique_id = StringField()
    service_id = IntField(required=True)
    type = StringField(required=True, choices=EVENT_TYPES)  # the types POST /events accepts
    value = FloatField()
    timestamp = DateTimeField(required=True)
    params = DictField()
    received_at = DateTimeField(required=True)
    demo = BooleanField()  # stored by a demo loader: dropped once a marketplace's own dump is active

    meta = {
        "collection": "events",
        "strict": False,
        "indexes": [("user_id", "timestamp"), ("unique_id", "timestamp"), "timestamp"],
    }


class ServedRecommendation(Document):
    """One answer of POST /recommendations: what was asked and what was returned."""

    id = StringField(primary_key=True)  # the recommendation_id given to the client
    created_at = DateTimeField(required=True)
    visit_id = StringField()  # links later user actions to this answer
    user_id = IntField()
    unique_id = StringField()
    page_id = StringField()
    panel_id = StringField()
    engine = StringField(required=True)
    model_version = StringField()
    service_ids = ListField(IntField())
    scores = ListField(FloatField())
    probabilities = ListField(FloatField())
    request = DictField()  # the request context as the caller gave it
    # In a running experiment (app/recommendations/experiment_arms.py): its id, the variant shown
    # and the person assigned ("user:<id>" or "visitor:<unique id>"); a request that named its
    # engine has `experiment_bypassed` (the experiment's id) instead.
    experiment = StringField()
    variant = StringField()
    unit = StringField()
    experiment_bypassed = StringField()

    meta = {
        "collection": "recommendations",
        "strict": False,
        # A person's panels by time (`rotation`, app/recommendations/showings.py); the same
        # prefixes serve deletion by user and lookups by visitor.
        "indexes": ["visit_id", ("user_id", "created_at"), ("unique_id", "created_at"), "created_at"],
    }


class ShadowRecommendation(Document):
    """What a shadow variant of an experiment would have shown for a served recommendation.
    Kept apart from the served log, which journeys, hit rates and training read."""

    id = StringField(primary_key=True)
    recommendation_id = StringField(required=True)  # the served recommendation it shadows
    created_at = DateTimeField(required=True)
    experiment = StringField(required=True)
    variant = StringField(required=True)
    unit = StringField(required=True)
    engine = StringField(required=True)
    model_version = StringField()
    service_ids = ListField(IntField())
    scores = ListField(FloatField())
    probabilities = ListField(FloatField())

    meta = {"collection": "shadow_recommendations", "strict": False, "indexes": ["created_at", "unit"]}


# --- Durable bulk inserts shared by concurrent requests (group commit) -------

class _Pending:
    """One caller's documents waiting for a batch."""

    __slots__ = ("docs", "error", "finished", "inserted", "wake")

    def __init__(self, docs: list[dict]):
        self.docs = docs
        self.wake = threading.Event()  # set when written, or when this caller must write the next batch
        self.finished = False
        self.inserted = 0
        self.error: BaseException | None = None


class DurableInserts:
    """Group commit: callers in one process share `insert_many` calls.

    A caller returns only after the batch holding its documents is acknowledged
    and journaled. While one batch is being written, new callers queue up; when
    that write ends, the oldest waiting caller writes everything queued, in one
    call. Alone, a caller writes at once; under load, batches form by
    themselves, without a timer adding latency. With one request at a time per
    process (gunicorn's sync worker) this is a plain insert_many.

    Documents carry their own `_id`; an id already stored is skipped (its
    duplicate-key error is expected), so retries are idempotent without reads.
    So the batch retries a lost connection once itself, through a client without
    retryable writes: for each retryable write the server keeps a record, and
    SecantusDB scans all of them on every write and sorts them once there are
    10,000 (30 minutes' worth are kept). In the MovieLens 100K replay that made every
    write after the 10,000th slower (POST /user_actions and /events p50 5 → 12 ms,
    p99 20 → 90 ms), most of SecantusDB's CPU spent in that scan (py-spy).
    """

    def __init__(self, document: type[Document], max_batch: int = 2000):
        self._document = document
        self._max_batch = max_batch
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Pending] = deque()
        self._writing = False

    def insert(self, docs: list[dict]) -> int:
        """Insert `docs` durably; returns how many were new (not already stored)."""
        if not docs:
            return 0
        mine = _Pending(docs)
        with self._lock:
            self._queue.append(mine)
            lead = not self._writing
            self._writing = True
        if not lead:
            mine.wake.wait()
        if not mine.finished:  # our turn: the next batch starts with our documents
            self._write_next_batch()
        if mine.error is not None:
            raise mine.error
        return mine.inserted

    def _write_next_batch(self) -> None:
        with self._lock:
            batch, size = [], 0
            while self._queue and (not batch or size + len(self._queue[0].docs) <= self._max_batch):
                entry = self._queue.popleft()
                batch.append(entry)
                size += len(entry.docs)
                # Replaced by the real outcome; stays if the write is interrupted.
                entry.error = RuntimeError("the batch holding these documents was not written")
        try:
            self._write(batch)
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._writing = successor is not None
            for entry in batch:
                entry.finished = True
                entry.wake.set()
            if successor is not None:
                successor.wake.set()

    def _write(self, batch: list[_Pending]) -> None:
        docs = [doc for entry in batch for doc in entry.docs]
        collection = database_without_write_retries()[self._document._get_collection_name()].with_options(
            write_concern=DURABLE)
        failed: set[int] = set()  # indexes of documents not stored (already there)
        try:
            _insert_retrying_once(collection, docs)
        except BulkWriteError as exc:
            _share_bulk_errors(batch, exc)
            failed = {error["index"] for error in (exc.details or {}).get("writeErrors", [])}
        except Exception as exc:  # e.g. AutoReconnect: nobody's documents are known to be stored
            for entry in batch:
                entry.error = exc
            return
        else:
            for entry in batch:
                entry.inserted, entry.error = len(entry.docs), None
        time_buckets.note_inserted(collection, (doc["timestamp"] for index, doc in enumerate(docs)
                                                 if index not in failed and "timestamp" in doc))


def _insert_retrying_once(collection, docs: list[dict]) -> None:
    """insert_many, once more after a lost connection (what a driver's retryable write does):
    what the first attempt stored comes back as duplicates, which count as stored."""
    try:
        collection.insert_many(docs, ordered=False)
    except ServerSelectionTimeoutError:
        raise  # no server to write to: asking again would only double the wait
    except ConnectionFailure:
        log.warning("durable insert lost its connection; writing the batch again",
                    extra={"collection": collection.name, "documents": len(docs)})
        collection.insert_many(docs, ordered=False)


def _share_bulk_errors(batch: list[_Pending], exc: BulkWriteError) -> None:
    """Give each caller the outcome of its own documents in a shared insert_many."""
    details = exc.details or {}
    write_errors = details.get("writeErrors", [])
    start = 0
    for entry in batch:
        end = start + len(entry.docs)
        mine = [error for error in write_errors if start <= error["index"] < end]
        if details.get("writeConcernErrors") or any(e["code"] != DUPLICATE_KEY for e in mine):
            entry.error = exc
        else:
            entry.inserted, entry.error = len(entry.docs) - len(mine), None
        start = end
