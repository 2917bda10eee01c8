"""Throughput and latency of POST /user_actions under gunicorn, load from this machine.

    .venv/bin/python benchmarks/user_actions.py [--seconds 10] [--servers gevent gthread:8 sync]

Starts a SecantusDB and the API under gunicorn (2 workers) for each worker class
(`--servers`: gevent, sync, gthread:N threads), then drives it with a small asyncio
HTTP/1.1 client holding keep-alive connections open (gunicorn's sync worker closes
every connection, so that case reconnects per request):
- single: one action per request;
- batch: 500 actions per request.
Every action has a client id; after each phase the stored count must equal
the count of actions whose request got its 204, which is only sent after the
write holding them is acknowledged and journaled. Also prints the ceiling of
the database alone (insert_many of 500 from one process, same indexes) so the
HTTP figures can be read against it. Timings on a shared 2-core machine (load
generator, API and database on the same cores) are noisy; the load average is
printed beside them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app  # noqa: E402
from app.storage.interactions import DURABLE, UserAction  # noqa: E402
from benchmarks import harness  # noqa: E402
from devstack import services  # noqa: E402

ACTION = (
    '{{"id":"{id}","user_id":{user},"unique_id":"{session}","timestamp":"2021-03-18T19:33:21.620Z",'
    '"client_id":"marketplace","source":{{"visit_id":"{source}","page_id":"/services",'
    '"root":{{"type":"recommendation_panel","panel_id":"v1","resource_type":"service","resource_id":{service}}}}},'
    '"target":{{"visit_id":"{target}","page_id":"/services/egi-cloud-compute"}},'
    '"action":{{"type":"button","text":"Details","order":false}}}}'
)


class Actions:
    """Distinct wire actions, cheap to make: UUIDs are a random prefix and a counter."""

    def __init__(self):
        self.prefix = uuid.uuid4().hex[:8]
        self.count = 0

    def _uuid(self, n: int) -> str:
        return f"{self.prefix}-0000-4000-8000-{n:012x}"

    def body(self, size: int) -> bytes:
        items = []
        for _ in range(size):
            self.count += 1
            n = self.count
            items.append(ACTION.format(id=f"{self.prefix}-{n}", user=n % 5000, session=self._uuid(n % 20000),
                                       source=self._uuid(2 * n), target=self._uuid(2 * n + 1), service=n % 800))
        text = items[0] if size == 1 else "[" + ",".join(items) + "]"
        return text.encode()


def run_single_or_batch(port: int, size: int, connections: int, seconds: float) -> tuple[list, float]:
    actions = Actions()
    return harness.run_load("127.0.0.1", port, lambda: ("/user_actions", actions.body(size), size), connections,
                            seconds)


def report(name: str, results: list, elapsed: float, stored: int) -> None:
    ok = [r for r in results if r[1] == 204]
    latencies = sorted(r[0] * 1000 for r in ok) or [float("nan")]
    acknowledged = sum(r[2] for r in ok)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"  {name:6s} {len(ok) / elapsed:8.0f} req/s {acknowledged / elapsed:8.0f} actions/s  "
          f"p50 {statistics.median(latencies):7.1f} ms  p99 {p99:7.1f} ms  "
          f"non-204: {len(results) - len(ok)}  stored {stored} / acknowledged {acknowledged}")


def database_ceiling(seconds: float = 5.0) -> float:
    """Actions per second the database takes from one process, batches of 500, no HTTP."""
    import json

    collection = UserAction._get_collection().with_options(write_concern=DURABLE)
    actions, written, started = Actions(), 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        docs = [{**action, "_id": action.pop("id")} for action in json.loads(actions.body(500))]
        collection.insert_many(docs, ordered=False)
        written += len(docs)
    rate = written / (time.perf_counter() - started)
    collection.delete_many({})
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--servers", nargs="+", default=["gevent", "gthread:8", "sync"],
                        help="gunicorn worker classes: gevent, sync, gthread:N (N threads per worker)")
    parser.add_argument("--connections", type=int, default=32, help="client connections, single actions")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    os.chdir(ROOT)  # gunicorn.conf.py
    mongo_port = services.free_port()
    mongo = services.start_mongo(mongo_port, tempfile.mkdtemp(prefix="marketrec-bench-"))
    uri = f"mongodb://127.0.0.1:{mongo_port}/bench"
    try:
        create_app({"APP_ENV": "testing", "MONGODB_URI": uri, "LOG_LEVEL": "WARNING"})
        collection = UserAction._get_collection()  # indexes exist before the load
        print(f"database alone (insert_many of 500, j=True, {len(collection.index_information())} indexes): "
              f"{database_ceiling():.0f} actions/s")
        for server in args.servers:
            port = services.free_port()
            settings = {"APP_ENV": "testing", "MONGODB_URI": uri, "LOG_LEVEL": "WARNING"}
            api = harness.start_api(settings, port, server=server, timeout=30)
            try:
                run_single_or_batch(port, 1, 8, 3.0)  # warm-up: both workers have booted and connected
                print(f"gunicorn 2 {server} workers; load average {os.getloadavg()}")
                pids = {"database": mongo.pid, "client": os.getpid()}
                pids.update({f"worker{n}": pid for n, pid in enumerate(harness.worker_pids(api.pid), start=1)})
                for name, size, connections in (("single", 1, args.connections),
                                                ("batch", args.batch_size, args.batch_connections)):
                    before = collection.count_documents({})
                    cpu = harness.CpuUse(pids)
                    results, elapsed = run_single_or_batch(port, size, connections, args.seconds)
                    report(name, results, elapsed, collection.count_documents({}) - before)
                    print(f"         {cpu}")
            finally:
                services.stop(api)
    finally:
        services.stop(mongo)


if __name__ == "__main__":
    main()
