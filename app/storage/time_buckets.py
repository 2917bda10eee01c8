"""How many documents of a timestamped collection (user actions, events) fall in each
hour, so bulk readers can walk it in windows bounded on both sides.

Why: SecantusDB, the local default, answers a query by collecting its whole index
range first, and nothing else runs meanwhile: about 30 µs a document, whatever the
limit, the sort or the projection (measured on 22,606 stored actions: a sorted read,
a `find_one` of the oldest and a count each held every other client 0.41 to 0.67 s;
single inserts beside a loop of such reads waited up to 0.47 s). At that rate a read
of every interaction for a refit, or of the oldest timestamp, would hold a
million-action database for about half a minute. A range bounded on both sides costs only its own
documents: windows of about 500 held inserts beside them to a 33 ms p99.

The counts are hints, never the data: windows tile the whole time axis, so a document
whose hour was not counted (written before this existed, or by a raw insert) is still
read, in a larger window. Writers count their documents' hours and a background thread
adds them every second (off the write path); a complete bulk read writes the exact
counts of the hours it read, which also forgets deleted documents. MongoDB needs none
of this (its readers do not block writers), and the windows are as correct there.
"""
from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

from mongoengine import DateTimeField, Document, IntField, StringField
from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure, ServerSelectionTimeoutError

from app.observability.logs import OutageWarning
from app.storage.pacing import WINDOW_DOCS

log = logging.getLogger(__name__)
_database_down = OutageWarning(log, "could not count stored documents by hour; kept for the next flush")

HOUR = timedelta(hours=1)
FLUSH_SECONDS = 1.0
MIN_WINDOW = timedelta(milliseconds=1)  # BSON dates hold milliseconds
EXACT_WINDOWS = 4  # count_since reads the first hour in at most this many windows
# The ends of the time axis BSON dates hold comfortably; the windows start and end there.
EARLIEST = datetime(1, 1, 1)
LATEST = datetime(9999, 1, 1)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo is not None else moment


def hour_of(moment: datetime) -> datetime:
    """The UTC hour holding `moment`, naive (BSON dates carry no zone)."""
    return _naive_utc(moment).replace(minute=0, second=0, microsecond=0)


class TimestampHour(Document):
    """The count of one collection's documents in one hour; `_id` is "<collection>|<hour>"."""

    id = StringField(primary_key=True)
    collection = StringField(required=True)
    hour = DateTimeField(required=True)
    n = IntField(required=True, default=0)

    meta = {"collection": "timestamp_hours", "indexes": [("collection", "hour")]}


_INDEXED: set[tuple[int, str]] = set()  # (client, database) where the index is known to exist


def _buckets(counted: Collection) -> Collection:
    """Where the hours of `counted` are kept: beside it, in its own database (with its index)."""
    buckets = counted.database[TimestampHour._meta["collection"]]
    where = (id(counted.database.client), counted.database.name)
    if where not in _INDEXED:
        try:
            # The very spec mongoengine asks for from TimestampHour's meta (`flask db init`), so that
            # whichever comes second finds its twin: SecantusDB refuses the same key and name with
            # other options (background), and `flask db init` runs at every `make run`.
            buckets.create_index([("collection", ASCENDING), ("hour", ASCENDING)], background=False)
        except OperationFailure:  # made with other options by an earlier version: it serves as well
            pass
        _INDEXED.add(where)
    return buckets


def note_inserted(collection: Collection, timestamps: Iterable[datetime]) -> None:
    """Count newly stored documents in their hours, in the background: an upsert on the write
    path added its round trip to every write (POST /user_actions p50 10 → 16 ms in the
    replay). The counts are hints, so what a crash loses before a flush costs nothing but
    larger windows until the next complete read; a failed flush is logged, never raised."""
    counts = Counter(hour_of(moment) for moment in timestamps)
    if counts:
        PENDING.add(collection, counts)


class PendingCounts:
    """Counts not yet written, per (client, database, collection), flushed by one daemon thread
    per process every FLUSH_SECONDS."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the parent's thread and counts stay there

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple, tuple[Collection, Counter]] = {}
        self._thread: threading.Thread | None = None

    def add(self, collection: Collection, counts: Counter) -> None:
        self._keep(collection, counts)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hour-counts", daemon=True)
                self._thread.start()
                atexit.register(self.flush, quiet=True)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self, quiet: bool = False) -> None:
        """Write what is counted; `quiet` at exit, where the database may be gone already."""
        with self._lock:
            taken, self._counts = self._counts, {}
        for collection, counts in taken.values():
            try:
                _buckets(collection).bulk_write(
                    [UpdateOne({"_id": f"{collection.name}|{hour.isoformat()}"},
                               {"$inc": {"n": n}, "$setOnInsert": {"collection": collection.name, "hour": hour}},
                               upsert=True) for hour, n in counts.items()], ordered=False)
            except ServerSelectionTimeoutError as exc:  # nothing was sent: count them at the next flush
                if not quiet:
                    _database_down(exc)
                    self._keep(collection, counts)
            except ConnectionFailure as exc:  # lost on the way: some may be counted already, so not again
                if not quiet:
                    _database_down(exc)
            except Exception:
                if not quiet:
                    log.warning("could not count stored documents by hour", extra={"collection": collection.name},
                                exc_info=True)

    def _keep(self, collection: Collection, counts: Counter) -> None:
        key = (id(collection.database.client), collection.database.name, collection.name)
        with self._lock:
            self._counts.setdefault(key, (collection, Counter()))[1].update(counts)


PENDING = PendingCounts()


def hour_counts(collection: Collection, since: datetime | None = None) -> dict[datetime, int]:
    """Counted documents per hour, from the hour holding `since` on (with this process's
    counts not yet flushed)."""
    PENDING.flush()
    query: dict = {"collection": collection.name}
    if since is not None:
        query["hour"] = {"$gte": hour_of(since)}
    found = _buckets(collection).find(query, {"hour": 1, "n": 1}).sort("hour", ASCENDING)
    return {_naive_utc(doc["hour"]): doc["n"] for doc in found if doc.get("n", 0) > 0}


def windows(counts: dict[datetime, int], since: datetime | None = None,
            per_window: int = WINDOW_DOCS) -> list[tuple[datetime, datetime]]:
    """[start, stop) ranges tiling the time axis from `since` (or the earliest date) to the
    latest, each holding about `per_window` counted documents: quiet hours and the gaps
    between them are merged; a busy hour is cut into equal parts."""
    start = EARLIEST if since is None else _naive_utc(since)
    tiles, held = [], 0
    for hour, n in sorted(counts.items()):
        end = hour + HOUR
        if end <= start:
            continue
        if n > per_window:
            if held or hour > start:  # what comes before this hour: one window
                tiles.append((start, max(start, hour)))
                start, held = max(start, hour), 0
            parts = math.ceil(n / per_window)
            step = (end - start) / parts
            for part in range(parts - 1):
                tiles.append((start + part * step, start + (part + 1) * step))
            tiles.append((start + (parts - 1) * step, end))
            start = end
            continue
        if held + n > per_window:
            tiles.append((start, max(start, hour)))
            start, held = max(start, hour), 0
        held += n
    tiles.append((start, LATEST))
    return [(a, b) for a, b in tiles if b > a]


class WindowWalk:
    """The windows a reader walks: the planned tiles, cut shorter where the documents just read
    show a burst the hourly counts cannot (an hour's documents packed into a few minutes of
    it: 14,000 replayed in six minutes made evenly cut windows of about 4,700). The next
    window is sized by the density of the last one; an empty one lets the rest of its tile
    go in one, since the tile holds about `per_window` counted documents."""

    def __init__(self, tiles: list[tuple[datetime, datetime]], per_window: int = WINDOW_DOCS):
        self._tiles, self._per_window = tiles, per_window
        self._density = 0.0  # documents a second in the last window read
        self._span = 0.0

    def windows(self) -> Iterator[tuple[datetime, datetime]]:
        for start, stop in self._tiles:
            at = start
            while at < stop:
                end = stop
                if self._density > 0:
                    seconds = self._per_window / self._density
                    if seconds < (stop - at).total_seconds():
                        end = at + max(MIN_WINDOW, timedelta(seconds=seconds))
                self._span = (end - at).total_seconds()
                yield at, end
                at = end

    def read(self, count: int) -> None:
        """How many documents the window just given held."""
        self._density = count / self._span if self._span > 0 else 0.0


def replace_counts(collection: Collection, counts: Counter, before: datetime) -> None:
    """Set the counts of every hour before `before` to what a complete read found there."""
    buckets, name = _buckets(collection), collection.name
    buckets.delete_many({"collection": name, "hour": {"$lt": hour_of(before)}})
    exact = [{"_id": f"{name}|{hour.isoformat()}", "collection": name, "hour": hour, "n": n}
             for hour, n in counts.items() if hour < hour_of(before)]
    try:
        if exact:
            buckets.insert_many(exact, ordered=False)
    except BulkWriteError:  # a writer counted a late document in one of these hours meanwhile: keep its count
        pass


def count_since(collection: Collection, since: datetime, per_window: int = WINDOW_DOCS) -> int:
    """Documents timestamped at or after `since`. The later hours come from their counts (a
    document written without being counted is missed there); the hour holding `since` is
    counted in the collection, in windows of about `per_window` documents, unless it holds
    more than EXACT_WINDOWS of them: then its share after `since`, as if evenly spread."""
    counts = hour_counts(collection, since)
    first = hour_of(since)
    end = first + HOUR
    later = sum(n for hour, n in counts.items() if hour > first)
    if counts.get(first, 0) > EXACT_WINDOWS * per_window:
        return later + round(counts[first] * ((end - _naive_utc(since)) / HOUR))
    partial = windows({first: counts[first]} if first in counts else {}, since, per_window)
    exact = sum(collection.count_documents({"timestamp": {"$gte": a, "$lt": min(b, end)}})
                for a, b in partial if a < end)
    return later + exact
