"""What logging a served recommendation costs the request that serves it.

    .venv/bin/python benchmarks/recommendation_log.py [--calls 3000]

Compares, per call, on a SecantusDB of its own:
- a synchronous `insert_one` (w=1) of the record: one more round trip on the request path;
- `log_served`: the record encoded on the caller's thread and queued; a
  background thread writes batches with `insert_many` (what app/recommendation_log.py does).
Prints p50/p99/max per call, the time until the queue is written, and what each
choice loses if the process dies. Timings on a shared 2-core machine are noisy;
the load average is printed beside them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import create_app  # noqa: E402
from app.recommendation_log import ACKNOWLEDGED, flush_served, log_served, served_record  # noqa: E402
from app.storage.interactions import ServedRecommendation  # noqa: E402
from devstack import services  # noqa: E402


def context() -> dict:
    return {"user_id": 1234, "unique_id": str(uuid.uuid4()), "visit_id": str(uuid.uuid4()),
            "page_id": "/services", "panel_id": "v1", "client_id": "marketplace",
            "timestamp": "2021-03-18T19:33:21.620Z", "engine_version": "NCF",
            "search_data": {"q": "cloud compute", "categories": [3, 7], "scientific_domains": [12]},
            "candidates": list(range(1, 201))}


IDS, SCORES = [17, 4, 230], [0.91, 0.77, 0.42]


def figures(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.3f} ms  p99 {p99:7.3f} ms  max {ms[-1]:7.3f} ms"


def synchronous(calls: int) -> list[float]:
    collection = ServedRecommendation._get_collection().with_options(write_concern=ACKNOWLEDGED)
    latencies = []
    for _ in range(calls):
        start = time.perf_counter()
        record = served_record(str(uuid.uuid4()), context(), IDS, SCORES, "NCF", "v1")
        collection.insert_one(record)
        latencies.append(time.perf_counter() - start)
    return latencies


def queued(calls: int) -> tuple[list[float], float]:
    latencies = []
    started = time.perf_counter()
    for _ in range(calls):
        start = time.perf_counter()
        log_served(context(), IDS, SCORES, "NCF", "v1")
        latencies.append(time.perf_counter() - start)
    assert flush_served(60), "the queue was not written within 60 s"
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    port = services.free_port()
    mongo = services.start_mongo(port, ":memory:")
    try:
        create_app({"APP_ENV": "testing", "MONGODB_URI": f"mongodb://127.0.0.1:{port}/bench", "LOG_LEVEL": "WARNING"})
        collection = ServedRecommendation._get_collection()  # indexes created before timing
        synchronous(200)  # warm-up: connections, caches
        print(f"SecantusDB on 127.0.0.1:{port}; {args.calls} calls each; load average {os.getloadavg()}")
        sync = synchronous(args.calls)
        print(f"synchronous insert_one (w=1):   {figures(sync)}  total {sum(sync):.2f} s")
        queue_latencies, drained = queued(args.calls)
        print(f"log_served (queue + background): {figures(queue_latencies)}  "
              f"all {args.calls} written {drained:.2f} s after the first call")
        stored = collection.count_documents({})
        print(f"records stored: {stored} (expected {args.calls * 2 + 200})")
        print("durability: insert_one loses nothing acknowledged but adds its round trip to every request;\n"
              "the queue loses the records still queued or in flight if the process is killed without\n"
              "its exit handlers (SIGKILL, OOM): normally milliseconds of traffic, at most MAX_QUEUED records.")
    finally:
        services.stop(mongo)


if __name__ == "__main__":
    main()
