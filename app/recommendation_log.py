"""The served-recommendation log: what each recommendation request asked, what
it returned, which engine and model version answered.

Why in the background: benchmarks/recommendation_log.py measured a synchronous
`insert_one` (w=1) at 1.2 to 3.2 ms per call at the median and 4 to 13 ms at
p99 (SecantusDB on a busy 2-core machine), against 0.025 ms at the median and
0.15 ms at p99 to queue a record; the request path may spend at most a
millisecond on logging. So `log_served`
encodes the record on the caller's thread (a record that cannot be stored fails
there, loudly), puts it in a bounded in-process queue and returns its id at
once; one daemon thread per process writes what is queued with `insert_many`,
and the queue is flushed at exit.

Why batches wait: a write waits up to `LINGER_SECONDS` after its first record
for more (or for `MAX_BATCH` of them). Each insert has a fixed cost on the
database: SecantusDB spent 0.62 ms of CPU per record inserted one at a time,
1.0 ms with two API processes inserting at once, and 0.26 to 0.31 ms in batches
of 20 (the record shape and five indexes of the log). Under load a writer that
sent whatever was queued sent one or two records at a time.

What can be lost: records still queued or in flight when the process dies
without running its exit handlers (SIGKILL, OOM, a gunicorn worker killed on
timeout): normally the last few milliseconds of traffic, at most `MAX_QUEUED`
records while MongoDB is slow or down. A clean exit flushes for up to
`EXIT_FLUSH_SECONDS`. A full queue drops new records (counted in `dropped`,
logged) rather than slow down serving; a batch that still fails after
`WRITE_ATTEMPTS` attempts is dropped and logged. The linger adds at most
`LINGER_SECONDS` to what a crash can lose and to how late a record is readable.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import bson
import bson.errors
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.errors import BulkWriteError, ConnectionFailure
from pymongo.write_concern import WriteConcern

from app.storage.connection import database_without_write_retries
from app.storage.interactions import DUPLICATE_KEY, ServedRecommendation, ShadowRecommendation

log = logging.getLogger(__name__)

MAX_QUEUED = 10_000
MAX_BATCH = 500
LINGER_SECONDS = 0.05
WRITE_ATTEMPTS = 5
EXIT_FLUSH_SECONDS = 5.0
ACKNOWLEDGED = WriteConcern(w=1)
_CODEC = CodecOptions(tz_aware=True, uuid_representation=UuidRepresentation.STANDARD)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what a BSON integer holds
# Request fields copied to the top level of a record, where the indexes are.
_LINK_FIELDS = ("visit_id", "user_id", "unique_id", "page_id", "panel_id")


class BackgroundWriter:
    """A bounded queue of encoded records and the thread that stores them in batches."""

    def __init__(self, document, max_queued: int = MAX_QUEUED, max_batch: int = MAX_BATCH,
                 linger: float = LINGER_SECONDS):
        self._document = document
        self._max_queued = max_queued
        self._max_batch = max_batch
        self._linger = linger
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the parent's thread and records stay there

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._has_records = threading.Condition(self._lock)
        self._drained = threading.Condition(self._lock)
        self._queue: deque[RawBSONDocument] = deque()
        self._in_flight = 0
        self._flushing = 0  # callers waiting in flush(): write what is queued without lingering
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def append(self, record: RawBSONDocument) -> bool:
        """Queue one record; False (and the record dropped) when the queue is full."""
        with self._lock:
            if len(self._queue) >= self._max_queued:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("served-recommendation log full: %d records dropped so far", self.dropped)
                return False
            self._queue.append(record)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="served-log", daemon=True)
                self._thread.start()
            if len(self._queue) in (1, self._max_batch):  # the writer waits for the first, or for a full batch
                self._has_records.notify()
        return True

    def flush(self, timeout: float = EXIT_FLUSH_SECONDS) -> bool:
        """Wait until everything queued so far is written (or given up); False on timeout."""
        with self._lock:
            self._flushing += 1
            self._has_records.notify()
            try:
                return self._drained.wait_for(lambda: not self._queue and not self._in_flight, timeout)
            finally:
                self._flushing -= 1

    def _run(self) -> None:
        while True:
            with self._lock:
                self._has_records.wait_for(lambda: bool(self._queue))
                self._has_records.wait_for(lambda: len(self._queue) >= self._max_batch or self._flushing,
                                           self._linger)
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))]
                self._in_flight = len(batch)
            try:
                self._write(batch)
            except Exception:  # the writer must outlive any one bad batch
                log.exception("served-recommendation log: %d records lost", len(batch))
            with self._lock:
                self._in_flight = 0
                self._drained.notify_all()

    def _write(self, batch: list[RawBSONDocument]) -> None:
        name = self._document._get_collection().name  # mongoengine makes the indexes on first use
        # Its own retries below are idempotent (records carry their ids): the driver's are not needed.
        collection = database_without_write_retries()[name].with_options(write_concern=ACKNOWLEDGED)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                collection.insert_many(batch, ordered=False)
                return
            except BulkWriteError as exc:  # ids already stored (a retried batch) are fine
                failed = [e for e in exc.details.get("writeErrors", []) if e["code"] != DUPLICATE_KEY]
                if failed or exc.details.get("writeConcernErrors"):
                    log.error("served-recommendation log: %d records rejected: %s",
                              len(failed), failed[:1] or exc.details.get("writeConcernErrors"))
                return
            except ConnectionFailure as exc:
                log.warning("served-recommendation log: write failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(min(0.1 * 2**attempt, 2.0))
        log.error("served-recommendation log: %d records dropped after %d attempts", len(batch), WRITE_ATTEMPTS)


_writer = BackgroundWriter(ServedRecommendation)
_shadow_writer = BackgroundWriter(ShadowRecommendation)
atexit.register(lambda: _writer.flush(EXIT_FLUSH_SECONDS))
atexit.register(lambda: _shadow_writer.flush(EXIT_FLUSH_SECONDS))


def _linked(value):
    # UUIDs are stored lower-case everywhere, so records join with user actions.
    return value.lower() if isinstance(value, str) else value


def _answer_fields(engine: str, model_version, service_ids: Iterable, scores: Iterable, probabilities) -> dict:
    """What an engine answered, as both logs store it (numpy numbers become plain ones)."""
    return {
        "engine": engine,
        "model_version": str(model_version) if model_version is not None else None,
        "service_ids": [int(service_id) for service_id in service_ids],
        "scores": [float(score) for score in scores],
        "probabilities": [float(p) for p in probabilities] if probabilities is not None else None,
    }


def served_record(recommendation_id: str, request_context: dict, service_ids: Iterable,
                  scores: Iterable, engine: str, model_version, probabilities=None,
                  experiment: dict | None = None) -> dict:
    """The stored form of one served recommendation (numpy numbers become plain ones);
    `experiment`: its experiment fields (experiment_arms.Placement.log_fields)."""
    record = {
        "_id": recommendation_id,
        "created_at": datetime.now(timezone.utc),
        **{field: _linked(request_context.get(field)) for field in _LINK_FIELDS},
        **_answer_fields(engine, model_version, service_ids, scores, probabilities),
        "request": dict(request_context),
        **(experiment or {}),
    }
    if record["user_id"] is not None:
        record["user_id"] = int(record["user_id"])
    return {key: value for key, value in record.items() if value is not None}


def log_served(request_context: dict, service_ids: Sequence[int], scores: Sequence[float],
               engine: str, model_version, probabilities=None, experiment: dict | None = None) -> str:
    """Log one served recommendation; returns its id (known before it is written).

    The record is written in the background, normally within milliseconds; see
    the module docstring for what a crash can lose. Raises if the record cannot
    be encoded (e.g. an object BSON cannot hold in `request_context`).
    """
    recommendation_id = str(uuid.uuid4())
    record = served_record(recommendation_id, request_context, service_ids, scores, engine,
                           model_version, probabilities, experiment)
    try:
        encoded = bson.encode(record, codec_options=_CODEC)
    except (bson.errors.InvalidDocument, OverflowError):
        # Among the fields a caller may add to a request, a key BSON cannot hold (one with a
        # NUL byte) or an integer beyond 64 bits: the record keeps the rest of them.
        record["request"] = _storable(record["request"])
        encoded = bson.encode(record, codec_options=_CODEC)
    _writer.append(RawBSONDocument(encoded))
    return recommendation_id


def log_shadow(recommendation_id: str, experiment: dict, service_ids: Sequence[int], scores: Sequence[float],
               engine: str, model_version, probabilities=None) -> None:
    """Log what a shadow variant would have shown beside served recommendation `recommendation_id`
    (in the background, as `log_served`)."""
    record = {
        "_id": str(uuid.uuid4()), "recommendation_id": recommendation_id, "created_at": datetime.now(timezone.utc),
        **experiment, **_answer_fields(engine, model_version, service_ids, scores, probabilities),
    }
    record = {key: value for key, value in record.items() if value is not None}
    _shadow_writer.append(RawBSONDocument(bson.encode(record, codec_options=_CODEC)))


def _storable(value):
    """`value` without the dictionary keys that contain a NUL byte, and with every integer
    beyond 64 bits written as its decimal string, at any depth."""
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items() if "\x00" not in str(key)}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return str(value)
    return value


def flush_served(timeout: float = EXIT_FLUSH_SECONDS) -> bool:
    """Wait until this process's logged recommendations (and shadows) are written; False on timeout."""
    return _writer.flush(timeout) and _shadow_writer.flush(timeout)


def dropped_count() -> int:
    """Records this process dropped because its queue was full."""
    return _writer.dropped
