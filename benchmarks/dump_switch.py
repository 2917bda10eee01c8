"""What each step of a dump switch costs the database's other clients: every step the
worker, the trainers and the API workers run when a new snapshot becomes active, timed,
with single durable inserts every 10 ms from another process beside it (their wait is
what an API request's write meets meanwhile).

    .venv/bin/python benchmarks/dump_switch.py                 # MovieLens latest-small (9,066 services)
    .venv/bin/python benchmarks/dump_switch.py --data ml-100k

Starts SecantusDB (and Redis) on disk in a temporary directory unless MONGODB_URI names
a running server (benchmarks/harness.py). The dump is the replay's
(benchmarks/replay_data.py: the first 80% of the ratings). "services in one read" is
how every reader got the snapshot's services before they were read in windows; it is
kept here for comparison.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import harness, replay_data  # noqa: E402


def insert_every_10_ms(uri: str, stop, results) -> None:
    """Runs in another process: single durable inserts until `stop` is set; their seconds go to `results`."""
    from pymongo import MongoClient, WriteConcern
    client = MongoClient(uri)
    collection = client.get_default_database()["write_probe"].with_options(write_concern=WriteConcern(w=1, j=True))
    collection.insert_one({"warm": True})
    results.put("ready")
    seconds = []
    while not stop.is_set():
        began = time.perf_counter()
        collection.insert_one({"at": datetime.now(timezone.utc)})
        seconds.append(time.perf_counter() - began)
        time.sleep(0.01)
    results.put(seconds)
    client.close()


def measured(uri: str, name: str, work):
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    probe = context.Process(target=insert_every_10_ms, args=(uri, stop, results))
    probe.start()
    results.get(timeout=60)
    began = time.perf_counter()
    outcome = work()
    seconds = time.perf_counter() - began
    stop.set()
    waits = sorted(results.get(timeout=60)) or [0.0]
    probe.join()
    print(f"| {name} | {seconds:.2f} | {len(waits)} | {1000 * harness.percentile(waits, 0.5):.1f} | "
          f"{1000 * waits[-1]:.1f} |", flush=True)
    return outcome


def run(uri: str, data: replay_data.ReplayData) -> None:
    from app import create_app
    from app.marketplace import dumps, ingestion, serving_catalogue
    from app.marketplace.catalogue import recommendable_services
    from app.pipelines.interaction_models import dump_takings, fit_interaction_models, service_categories
    from app.storage.marketplace import read_in_windows
    from app.storage.raw_dumps import raw_dump

    parts = replay_data.split(data.ratings, 0.8, None)
    dump = replay_data.build_dump(data.template, parts.before)
    app = create_app({"APP_ENV": "testing", "MONGODB_URI": uri, "LOG_LEVEL": "WARNING"})
    print(f"{data.name}: {len(dump['services'])} services, {len(dump['users'])} users in the dump; "
          f"load average {harness.load_average()}\n")
    print("| step | seconds | inserts beside it | their p50 ms | their max ms |\n|---|---|---|---|---|")
    with app.app_context():
        snapshot = measured(uri, "POST /update's storing (GridFS)", lambda: dumps.store_dump(dump, source="bench"))
        measured(uri, "ingestion (documents, serving catalogue)", lambda: ingestion.ingest_snapshot(snapshot.id))
        measured(uri, "API worker: serving catalogue, one file", lambda: serving_catalogue.load(snapshot.id))
        measured(uri, "services in one read (before)",
                 lambda: list(read_in_windows("services", snapshot.id, None, {"_id": 0})))
        measured(uri, "services in bounded windows", lambda: recommendable_services(snapshot.id))
        measured(uri, "trainer: the raw dump (GridFS)", lambda: raw_dump(snapshot.id))
        measured(uri, "refit: service categories (windows)", lambda: service_categories(snapshot.id))
        measured(uri, "refit: the dump's takings (raw dump)", lambda: dump_takings(snapshot.id))
        measured(uri, "refit: Popularity and Session", lambda: fit_interaction_models(snapshot.id))
    print(f"\nload average at the end {harness.load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("latest-small", "ml-100k"), default="latest-small")
    parser.add_argument("--movielens-dir", type=Path, default=ROOT / "var" / "data" / "ml-100k")
    args = parser.parse_args()
    if args.data == "latest-small":
        data = replay_data.movielens_latest_small()
    else:
        from app.sample_data.movielens_files import fetch_movielens
        if not (args.movielens_dir / "ml-100k.inter").is_file():
            fetch_movielens(args.movielens_dir)
        data = replay_data.movielens_100k(args.movielens_dir)
    with harness.stack("dump-switch-") as (settings, _procs, _workdir):
        run(settings["MONGODB_URI"], data)

if __name__ == "__main__":
    main()
