"""Load and soak through the public API of the stack `make run` starts, on MovieLens 100K:

1. two dumps posted at the same moment: both answered 202, both jobs end, the one
   received last is active;
2. 100 concurrent writers of user actions: every write answered 2xx is in MongoDB;
3. a mixed soak (recommendations, user actions, events at a steady rate) with a new dump
   a third of the way in and a retraining half way: no 5xx, every acknowledged write
   stored, and each process's resident memory sampled, compared after warm-up and at
   the end, beside what the two stores hold (Redis keys, stored interactions).

The soak's traffic comes from a steady population of `--visitors` people (70% of them
logged in as a dump user), each coming back many times, as on a marketplace; every
request of the old shape came from a new visitor, which measures Redis holding one
more visitor per request within its TTL rather than drift at a steady state. Redis's
memory per identity is printed, to size it (docs/reliability.md).

    .venv/bin/python benchmarks/soak.py                  # 10-minute soak
    .venv/bin/python benchmarks/soak.py --minutes 2      # a quick run

It starts `python -m devstack` on free ports in a directory of its own, without demo
data, as benchmarks/replay.py does. Everything shares this machine's cores.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import pymongo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import replay_data  # noqa: E402
from benchmarks.harness import load_average, percentile  # noqa: E402
from benchmarks.replay import Client, replay_stack, wait_for_job, wait_for_stack  # noqa: E402

WARM_UP_FRACTION = 0.2  # memory is compared from here to the end
SAMPLE_SECONDS = 10


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the mixed soak")
    parser.add_argument("--rate", type=float, default=60.0, help="requests a second in the soak")
    parser.add_argument("--writers", type=int, default=100, help="concurrent user-action writers")
    parser.add_argument("--writes-each", type=int, default=20)
    parser.add_argument("--movielens-dir", type=Path, default=ROOT / "var" / "data" / "ml-100k")
    parser.add_argument("--url", help="a running stack instead of one started here (its database must be "
                                      "readable at --mongodb-uri)")
    parser.add_argument("--mongodb-uri")
    parser.add_argument("--visitors", type=int, default=3000, help="people the soak's traffic comes from")
    parser.add_argument("--stored-actions", type=int, default=150_000,
                        help="user actions of the past 30 days posted before the soak, so the database "
                             "starts as a marketplace's that has run a while")
    parser.add_argument("--samples", type=Path, help="write the memory samples here as JSON")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


def variant(dump: dict, seed: int) -> dict:
    """The same marketplace a little later: a different dump (another checksum)."""
    rng = random.Random(seed)
    changed = {key: list(value) for key, value in dump.items()}
    changed["services"] = [{**s, "rating": f"{rng.uniform(1, 5):.2f}"} for s in dump["services"]]
    return changed


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def visitor_population(users: list[dict], size: int, seed: int = 7) -> list[tuple[str, dict | None]]:
    """(unique_id, dump user or None): who the soak's requests come from, each many times."""
    rng = random.Random(seed)
    return [(random_uuid(rng), rng.choice(users) if rng.random() < 0.7 else None) for _ in range(size)]


def post_history(url: str, dump: dict, visitors: list[tuple[str, dict | None]], actions: int,
                 batch: int = 100) -> tuple[int, int, float]:
    """`actions` user actions of the 30 days before now, from the dump's users and the
    population's anonymous visitors, posted as arrays. (acknowledged, failed requests, seconds)."""
    from datetime import datetime, timezone

    from benchmarks.journeys import Sessions

    sessions = Sessions([{"id": s["id"], "name": s["name"]} for s in dump["services"]],
                        [user["id"] for user in dump["users"]],
                        [unique_id for unique_id, user in visitors if user is None], datetime.now(timezone.utc))
    client, acknowledged, failed, began = Client(url), 0, 0, time.monotonic()
    for sessions_batch in sessions.batches(actions, batch):
        flat = [item for session in sessions_batch for item in session]
        status, _ = client.call("POST", "/user_actions", flat, timed=False)
        if 200 <= status < 300:
            acknowledged += len(flat)
        else:
            failed += 1
    return acknowledged, failed, time.monotonic() - began


def action(user: dict | None, service_id: int, rng: random.Random, unique_id: str | None = None) -> dict:
    visit = random_uuid(rng)
    return {"id": random_uuid(rng), "unique_id": unique_id or random_uuid(rng),
            **({"user_id": user["id"], "aai_uid": user["aai_uid"]} if user else {}),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "client_id": "marketplace",
            "source": {"visit_id": visit, "page_id": "/services",
                       "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": service_id}},
            "target": {"visit_id": random_uuid(rng), "page_id": f"/services/{service_id}"},
            "action": {"type": "button", "text": "Details", "order": False}}


class Results:
    """Statuses and times per label, and the ids of acknowledged writes, from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.acknowledged: dict[str, list[str]] = defaultdict(list)

    def add(self, label: str, status: int, seconds: float, written: tuple[str, str] | None = None):
        with self.lock:
            self.statuses[label][status] += 1
            self.seconds[label].append(seconds)
            if written and 200 <= status < 300:
                self.acknowledged[written[0]].append(written[1])

    def table(self) -> list[str]:
        lines = ["| requests | count | p50 ms | p99 ms | max ms | statuses |", "|---|---|---|---|---|---|"]
        for label, seconds in self.seconds.items():
            ordered = sorted(seconds)
            statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses[label].items()))
            lines.append(f"| {label} | {len(ordered)} | {percentile(ordered, 0.5) * 1000:.1f} | "
                         f"{percentile(ordered, 0.99) * 1000:.1f} | {ordered[-1] * 1000:.1f} | {statuses} |")
        return lines

    def server_errors(self) -> int:
        return sum(n for counter in self.statuses.values() for status, n in counter.items()
                   if status >= 500 or status == 0)


def timed_call(client: Client, results: Results, label: str, method: str, path: str, body=None,
               written: tuple[str, str] | None = None):
    started = time.perf_counter()
    status, answer = client.call(method, path, body, label=label, timed=False)
    results.add(label, status, time.perf_counter() - started, written)
    return status, answer


def two_dumps_at_once(url: str, dump: dict) -> list[str]:
    dumps = [variant(dump, 1), variant(dump, 2)]
    answers: list = [None, None]

    def post(i):
        answers[i] = Client(url).call("POST", "/update", dumps[i], label="POST /update")

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = Client(url)
    lines = [f"- POST /update answers: {[status for status, _ in answers]}"]
    outcomes = [wait_for_job(client, answer["job_id"], 900) for _, answer in answers]
    for outcome in outcomes:
        result = outcome.get("result") or {}
        lines.append(f"- job {outcome['id'][:8]}: {outcome['state']}, {result.get('status')}, "
                     f"snapshot {result.get('snapshot_id')}")
    _, datasets = client.call("GET", "/datasets")
    latest = max(datasets["datasets"], key=lambda d: d["sequence"])
    lines.append(f"- active {datasets['active_snapshot_id']}; received last {latest['id']}: "
                 f"{'the same' if latest['id'] == datasets['active_snapshot_id'] else 'NOT active'}")
    return lines


def concurrent_writers(url: str, dump: dict, writers: int, each: int, results: Results) -> float:
    services_ids = [s["id"] for s in dump["services"]]

    def write(n):
        client, rng = Client(url), random.Random(n)
        for _ in range(each):
            body = action(rng.choice(dump["users"]), rng.choice(services_ids), rng)
            timed_call(client, results, "POST /user_actions (100 writers)", "POST", "/user_actions", body,
                       ("user_actions", body["id"]))

    began = time.monotonic()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - began


def stack_processes(root_pid: int) -> dict[str, list[psutil.Process]]:
    roles = defaultdict(list)
    for proc in psutil.Process(root_pid).children(recursive=True):
        try:
            line = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        role = ("database" if "secantusd" in line else "redis" if "redis-server" in line
                else "api" if "gunicorn" in line else "trainer" if "-Q training" in line
                else "worker" if "-Q default" in line else "beat" if " beat" in line else None)
        if role:
            roles[role].append(proc)
    return roles


def listening_port(proc: psutil.Process) -> int:
    return next(c.laddr.port for c in proc.net_connections() if c.status == psutil.CONN_LISTEN)


def stack_redis_url(root_pid: int) -> str:
    return f"redis://127.0.0.1:{listening_port(stack_processes(root_pid)['redis'][0])}/0"


def resident_mb(root_pid: int) -> dict[str, float]:
    sizes = {}
    for role, procs in stack_processes(root_pid).items():
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        sizes[role] = total / 2**20
    return sizes


class Stores:
    """Clients of the stack's Redis and database, to sample what they hold."""

    def __init__(self, redis_url: str, database):
        import redis

        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5)
        self.database = database


def store_sizes(stores: Stores | None) -> dict[str, float]:
    """What the two stores hold: Redis keys and bytes it counts in use, interactions stored."""
    if stores is None:
        return {}
    try:
        info = stores.redis.info("memory")
        return {"redis keys": float(stores.redis.dbsize()), "redis used MB": info["used_memory"] / 2**20,
                "stored interactions": float(sum(stores.database[name].estimated_document_count()
                                                 for name in ("user_actions", "events")))}
    except Exception as exc:  # a sample is worth less than the soak
        print(f"store sample failed: {exc!r}", flush=True)
        return {}


def mixed_soak(url: str, dump: dict, minutes: float, rate: float, results: Results, root_pid: int | None,
               events: list[str], visitors: list[tuple[str, dict | None]],
               stores: Stores | None = None) -> list[tuple[float, dict]]:
    seconds, threads_n = minutes * 60, 8
    stop = threading.Event()
    services_ids = [s["id"] for s in dump["services"]]

    def load(n):
        client, rng = Client(url), random.Random(1000 + n)
        pause, next_at = threads_n / rate, time.monotonic()
        while not stop.is_set():
            unique_id, user = rng.choice(visitors)
            draw = rng.random()
            if draw < 0.6:
                body = {"unique_id": unique_id, "page_id": "/services",
                        "panel_id": "v1", "visit_id": random_uuid(rng),
                        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "search_data": {},
                        **({"user_id": user["id"], "aai_uid": user["aai_uid"]} if user else {})}
                timed_call(client, results, "POST /recommendations", "POST", "/recommendations", body)
            elif draw < 0.8:
                body = action(user, rng.choice(services_ids), rng, unique_id)
                timed_call(client, results, "POST /user_actions", "POST", "/user_actions", body,
                           ("user_actions", body["id"]))
            else:
                event = {"id": random_uuid(rng), "unique_id": unique_id, "type": "view",
                         "service_id": rng.choice(services_ids),
                         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
                timed_call(client, results, "POST /events", "POST", "/events", {"events": [event]},
                           ("events", event["id"]))
            next_at += pause
            time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(threads_n)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    samples = []
    dumped = trained = False
    while (elapsed := time.monotonic() - began) < seconds:
        if not dumped and elapsed >= seconds / 3:
            status, answer = timed_call(Client(url), results, "POST /update (soak)", "POST", "/update",
                                        variant(dump, 3))
            events.append(f"- {elapsed:.0f} s: a new dump, {status} (job {answer and answer.get('job_id')})")
            dumped = True
        if not trained and elapsed >= seconds / 2:
            status, answer = timed_call(Client(url), results, "POST /training (soak)", "POST", "/training",
                                        {"engines": ["ncf", "interaction_models"]})
            events.append(f"- {elapsed:.0f} s: retraining ncf and interaction_models, {status}")
            trained = True
        if root_pid:
            samples.append((elapsed, {**resident_mb(root_pid), **store_sizes(stores)}))
        time.sleep(SAMPLE_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(60)
    return samples


def memory_lines(samples: list[tuple[float, dict]], minutes: float) -> list[str]:
    warm = [s for s in samples if s[0] >= minutes * 60 * WARM_UP_FRACTION]
    if len(warm) < 2:
        return ["(too few memory samples)"]
    first, last = warm[0][1], warm[-1][1]
    lines = [f"| process | RSS after warm-up ({warm[0][0]:.0f} s) | lowest / highest after | at the end | drift |",
             "|---|---|---|---|---|"]
    for role in sorted(first):
        values = [s[1].get(role, 0.0) for s in warm]
        drift = (last.get(role, 0.0) - first[role]) / first[role] * 100 if first[role] else 0.0
        unit = "" if role in ("redis keys", "stored interactions") else " MB"
        lines.append(f"| {role} | {first[role]:.0f}{unit} | {min(values):.0f} / {max(values):.0f}{unit} | "
                     f"{last.get(role, 0.0):.0f}{unit} | {drift:+.1f}% |")
    keys = [s[1]["redis keys"] for s in warm if "redis keys" in s[1]]
    if len(keys) >= 2 and keys[-1] > keys[0]:
        used = [s[1]["redis used MB"] for s in warm if "redis keys" in s[1]]
        lines.append(f"- Redis: {(used[-1] - used[0]) * 2**20 / (keys[-1] - keys[0]):.0f} bytes in use per key "
                     f"added after warm-up")
    return lines


def stored_check(database, results: Results) -> list[str]:
    lines = []
    for collection, ids in results.acknowledged.items():
        found = 0
        for start in range(0, len(ids), 1000):
            found += database[collection].count_documents({"_id": {"$in": ids[start:start + 1000]}})
        lines.append(f"- {collection}: {len(ids)} acknowledged, {found} stored"
                     f"{'' if found == len(ids) else ' — LOST ' + str(len(ids) - found)}")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.movielens_dir / "ml-100k.inter").is_file():
        from app.sample_data.movielens_files import fetch_movielens
        fetch_movielens(args.movielens_dir)
    data = replay_data.movielens_100k(args.movielens_dir)
    split = replay_data.split(data.ratings, 0.8, None)
    dump = replay_data.build_dump(data.template, split.before)
    print(f"load average at start: {load_average()}", flush=True)
    with replay_stack(args.url, "soak-", args.keep) as (url, proc):
        client = Client(url)
        wait_for_stack(client, proc)
        mongodb_uri = args.mongodb_uri
        if proc is not None:
            mongodb_uri = f"mongodb://127.0.0.1:{listening_port(stack_processes(proc.pid)['database'][0])}/marketrec"
        report = ["## Two dumps at once (MovieLens 100K, two variants)", *two_dumps_at_once(url, dump)]
        visitors = visitor_population(dump["users"], args.visitors)
        if args.stored_actions:
            stored, failed, took = post_history(url, dump, visitors, args.stored_actions)
            report += ["", f"## History: {stored} user actions of the past 30 days posted in {took:.0f} s "
                           f"({failed} requests failed)"]
        results = Results()
        took = concurrent_writers(url, dump, args.writers, args.writes_each, results)
        report += ["", f"## {args.writers} concurrent writers, {args.writes_each} user actions each ({took:.1f} s)",
                   *results.table()]
        writers_results, results = results, Results()
        events: list[str] = []
        database = pymongo.MongoClient(mongodb_uri).get_default_database()
        stores = Stores(stack_redis_url(proc.pid), database) if proc is not None else None
        samples = mixed_soak(url, dump, args.minutes, args.rate, results, proc.pid if proc else None, events,
                             visitors, stores)
        if args.samples:
            args.samples.write_text(json.dumps([{"seconds": t, **sizes} for t, sizes in samples], indent=1))
        report += ["", f"## Mixed soak: {args.minutes:g} minutes at {args.rate:g} requests a second "
                       f"from {args.visitors} visitors",
                   *events, "", *results.table(), "", *memory_lines(samples, args.minutes)]
        report += ["", "## Acknowledged writes found in MongoDB", *stored_check(database, writers_results),
                   *stored_check(database, results),
                   f"- responses 5xx or none: writers {writers_results.server_errors()}, "
                   f"soak {results.server_errors()}",
                   f"- load average at the end: {load_average()}"]
        print("\n".join(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
