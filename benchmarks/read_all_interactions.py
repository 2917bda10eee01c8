"""The trainers' bulk read (`app.marketplace.history.all_interactions`) over many stored actions.

    .venv/bin/python benchmarks/read_all_interactions.py [--actions 1000000] [--events 20000]
        [--uri mongodb://127.0.0.1:PORT/db] [--max-seconds 1200]

Stores `--actions` user actions in their stored form (`action_document`, raw insert_many
in batches of 10,000, with the indexes the documents declare; a third of them clicks on a
service, 1 in 50 an order) spread over 60 days at millisecond precision, and `--events`
events, on a SecantusDB of its own (on disk, free port, `--cache-size 2G` as
benchmarks/serving.py uses) unless `--uri` names a running server. With `--uri`, what
that database already holds is kept and only the missing actions and events are added, so
two versions of the reader can be timed on the same data.

Then `all_interactions()` is read to the end the way Popularity/Session's fit reads it
(each item appended to lists), timed, and stopped after `--max-seconds`. Figures are
bound by SecantusDB (a Python server); real MongoDB reads faster.

Measured 2026-12-06 (1M actions, 20k events, 363,988 interactions): one cursor per
collection read to the end in 64 s (load 4.8 before, 3.2 after). Pages of 5,000 as
`{"timestamp": {"$gte": last}}` sorted and limited were slow on SecantusDB (one alone: 16 s; the
limit apparently does not end the index range): 25,253 in 694 s, then `_OperationCancelled`. A range
bounded on both sides (`$gte`, `$lt`) of ~4,000 documents took 0.7 s.

Both readers run by default (`--readers windows,cursor`), each beside single durable inserts
from another client every 10 ms. Measured 2026-12-06 with 30,000 actions and 3,000 events
(a replay running beside it, load 3.0 to 3.1; windows before the rests between them and the
walk were added): windows read 13,238 interactions in 3.7 s with the inserts at p50 13.8,
p99 77.5, max 101.5 ms; one cursor per collection read them in 1.9 s with the inserts at
p50 21.8, p99 and max 842 ms.
"""
from __future__ import annotations

import argparse
import heapq
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pymongo import MongoClient
from pymongo.write_concern import WriteConcern

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app  # noqa: E402
from app.marketplace.history import (  # noqa: E402
    ACTION_FIELDS,
    EVENT_FIELDS,
    OrderServices,
    action_interaction,
    all_interactions,
    event_interaction,
)
from app.marketplace.user_actions import action_document  # noqa: E402
from app.storage import database, time_buckets  # noqa: E402
from app.storage.interactions import Event, UserAction  # noqa: E402
from benchmarks import harness  # noqa: E402
from devstack import services  # noqa: E402

BATCH = 10_000
START = datetime(2026, 9, 1, tzinfo=timezone.utc)
SPAN_MS = 60 * 24 * 3600 * 1000
DATABASE_FLAGS = ("--cache-size", "2G")


def wire_action(rng: random.Random, number: int) -> dict:
    at = START + timedelta(milliseconds=rng.randrange(SPAN_MS))
    action = {
        "id": f"bench-action-{number}",
        "unique_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "client_id": "marketplace",
        "source": {"visit_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "page_id": "/services"},
        "target": {"visit_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "page_id": "/services/x"},
        "action": {"type": "button", "text": "Details", "order": rng.random() < 0.02},
    }
    if rng.random() < 0.6:
        action["user_id"] = rng.randrange(100_000)
    if rng.random() < 0.33 or action["action"]["order"]:
        action["source"]["root"] = {"type": "recommendation_panel", "panel_id": "v1", "resource_type": "service",
                                    "resource_id": rng.randrange(1, 5000)}
    return action


def store_actions(count: int) -> None:
    collection = UserAction._get_collection()  # declares the indexes
    have = collection.estimated_document_count()
    rng, received = random.Random(have), datetime.now(timezone.utc)
    started = time.perf_counter()
    for first in range(have, count, BATCH):
        numbers = range(first, min(first + BATCH, count))
        docs = [action_document(wire_action(rng, n), received) for n in numbers]
        collection.insert_many(docs, ordered=False)
        time_buckets.note_inserted(collection, [doc["timestamp"] for doc in docs])  # as the API's writes do
    if count > have:
        seconds = time.perf_counter() - started
        print(f"stored {count - have:,} user actions in {seconds:.0f} s ({(count - have) / seconds:,.0f} a second; "
              f"load {harness.load_average()})", flush=True)


def store_events(count: int) -> None:
    collection = Event._get_collection()
    have = collection.estimated_document_count()
    rng, received = random.Random(-1 - have), datetime.now(timezone.utc)
    for first in range(have, count, BATCH):
        docs = [{"_id": f"bench-event-{number}", "user_id": rng.randrange(100_000),
                 "service_id": rng.randrange(1, 5000), "type": rng.choice(("view", "cart", "order")),
                 "received_at": received,
                 "timestamp": START + timedelta(milliseconds=rng.randrange(SPAN_MS))}
                for number in range(first, min(first + BATCH, count))]
        collection.insert_many(docs, ordered=False)
        time_buckets.note_inserted(collection, [doc["timestamp"] for doc in docs])


class WriteProbe(threading.Thread):
    """Single durable inserts every 10 ms from a client of its own, timed, while the read runs:
    what an API request's write meets beside a trainer's bulk read."""

    def __init__(self, uri: str):
        super().__init__(daemon=True)
        self.client = MongoClient(uri)
        self.collection = self.client.get_default_database()["write_probe"].with_options(
            write_concern=WriteConcern(w=1, j=True))
        self.seconds: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            began = time.perf_counter()
            self.collection.insert_one({"at": datetime.now(timezone.utc)})
            self.seconds.append(time.perf_counter() - began)

    def report(self) -> str:
        self.done.set()
        self.join()
        self.client.close()
        ordered = sorted(self.seconds) or [0.0]
        return (f"{len(ordered)} single inserts beside it: p50 {1000 * harness.percentile(ordered, 0.5):.1f}, "
                f"p99 {1000 * harness.percentile(ordered, 0.99):.1f}, max {1000 * ordered[-1]:.1f} ms")


def one_cursor_each() -> Iterator[dict]:
    """The earlier reader, for comparison: one unbounded cursor per collection on the timestamp index."""
    order = [("timestamp", 1)]
    actions = UserAction._get_collection().find({}, ACTION_FIELDS).sort(order).batch_size(5000)
    events = Event._get_collection().find({}, EVENT_FIELDS).sort(order).batch_size(5000)
    services_of = OrderServices()
    from_actions = (item for doc in actions if (item := action_interaction(doc, services_of)))
    return heapq.merge(from_actions, map(event_interaction, events), key=lambda item: item["timestamp"])


def read_everything(max_seconds: float, uri: str, reader: str) -> None:
    stop_at = time.monotonic() + max_seconds
    probe = WriteProbe(uri)
    probe.start()
    load, started = harness.load_average(), time.perf_counter()
    keys, services_, stamps, count, ended = [], [], [], 0, "to the end"
    if reader.startswith("windows"):
        items = all_interactions(per_window=int(reader.partition(":")[2] or 0) or None)
    else:
        items = one_cursor_each()
    try:
        for item in items:
            keys.append(item["user_id"] if item["user_id"] is not None else item["unique_id"])
            services_.append(item["service_id"])
            stamps.append(item["timestamp"].timestamp())
            count += 1
            if count % 10_000 == 0 and time.monotonic() > stop_at:
                ended = f"stopped after {max_seconds:.0f} s"
                break
    except Exception as exc:  # the measured failure is a figure too
        ended = f"failed: {type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    ordered = all(a <= b for a, b in zip(stamps, stamps[1:]))
    print(f"{reader}: {count:,} interactions read {ended} in {seconds:.1f} s "
          f"({count / max(seconds, 1e-9):,.0f} a second), oldest first: {ordered}; "
          f"load before {load}, after {harness.load_average()}; {probe.report()}", flush=True)


def run(uri: str, args) -> None:
    app = create_app({"APP_ENV": "testing", "MONGODB_URI": uri, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        store_actions(args.actions)
        store_events(args.events)
        print(f"held: {database()['user_actions'].estimated_document_count():,} user actions, "
              f"{database()['events'].estimated_document_count():,} events", flush=True)
        for reader in args.readers.split(","):
            read_everything(args.max_seconds, uri, reader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--uri", help="a running server's database; else a SecantusDB is started here")
    parser.add_argument("--max-seconds", type=float, default=1200)
    parser.add_argument("--readers", default="windows,cursor",
                        help="windows: all_interactions (bounded windows), windows:N with about N documents a "
                             "window; cursor: one unbounded cursor per collection")
    args = parser.parse_args()
    if args.uri:
        run(args.uri, args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="read-all-interactions-"))
    port = services.free_port()
    exe = str(Path(sys.executable).parent / "secantusd-py")
    proc = services.spawn([exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(workdir / "mongo"),
                           *DATABASE_FLAGS, "--log-level", "WARNING"], workdir / "mongo.log")
    try:
        services.wait_until(lambda: services.mongo_answers(f"mongodb://127.0.0.1:{port}/"), 30, "SecantusDB", proc)
        run(f"mongodb://127.0.0.1:{port}/marketrec_bench", args)
    finally:
        services.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
