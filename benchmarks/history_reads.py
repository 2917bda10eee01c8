"""Cold history reads (nothing copied to Redis yet) with the demo's user actions stored.

    .venv/bin/python benchmarks/history_reads.py [--movielens var/data/ml-100k] [--follow-ups 0]
        [--identities 30] [--alternative] [--reads or,python-filter,...]
        [--max-seconds 900]

Stores what `flask data demo` stores from MovieLens 100K (a click and an order per
liked rating: 110,750 user actions; lower ratings as 44,625 events) in the stored form
of POST /user_actions and /events, in bulk, with the indexes the documents declare, on
a SecantusDB of its own (on disk, free port) unless MONGODB_URI names a running server.
`--follow-ups K` adds K page-to-page actions (not about a service) between each click
and its order, as real journeys have.

Then, for `--identities` users and as many visitors (the demo's browser sessions), in a
shuffled order, the latest 100 actions about a service are read, each way timed alone:
- `or`: the earlier query, `{identity, $or: [service_id exists, order]}` newest first;
- `python-filter`: the current one (`app.marketplace.history.latest_actions`): the
  (identity, timestamp) index alone, actions not about a service dropped in Python,
  4x more read until 100 are found or the identity has no more;
- with `--alternative`, `about_service`: a flag stored with each action and read by
  equality on (identity, about_service, timestamp) indexes (stored and indexed here only);
and `history`: the whole read the request path makes on a miss (actions and events,
`latest_of_user` / `latest_of_visitor`). The whole run stops after `--max-seconds`.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app  # noqa: E402
from app.marketplace import history  # noqa: E402
from app.marketplace.events import event_document  # noqa: E402
from app.marketplace.user_actions import action_document, resolve_order_services  # noqa: E402
from app.sample_data.movielens import convert_movielens  # noqa: E402
from app.storage import all_documents, database  # noqa: E402
from app.storage.interactions import UserAction  # noqa: E402
from benchmarks import harness  # noqa: E402

LATEST = 100
EARLIER_QUERY = {"$or": [{"service_id": {"$exists": True}}, {"action.order": True}]}
NEWEST = [("timestamp", -1)]


class OutOfTime(Exception):
    pass


def with_follow_ups(actions: list[dict], count: int) -> list[dict]:
    """Each click followed by `count` page-to-page actions before its order."""
    if count == 0:
        return actions
    longer = []
    for click, order in zip(actions[::2], actions[1::2]):
        longer.append(click)
        visit = click["target"]["visit_id"]
        for step in range(count):
            follow_up = {**click, "source": {"visit_id": visit, "page_id": f"/services/x/{step}"},
                         "target": {"visit_id": f"{visit[:-4]}{step:04d}", "page_id": f"/services/x/{step + 1}"},
                         "action": {"type": "button", "text": "Next", "order": False}}
            visit = follow_up["target"]["visit_id"]
            longer.append(follow_up)
        longer.append({**order, "source": {**order["source"], "visit_id": visit}})
    return longer


def store(actions: list[dict], events: list[dict], alternative: bool) -> float:
    """Store in bulk with the declared indexes (and the alternative's); seconds taken."""
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    for document in all_documents():
        if document._get_collection_name() in ("user_actions", "events"):
            document.ensure_indexes()
    if alternative:
        for identity in ("user_id", "unique_id"):
            UserAction._get_collection().create_index([(identity, 1), ("about_service", 1), ("timestamp", 1)])
    for start in range(0, len(actions), 5000):
        docs = [action_document(action, now) for action in actions[start:start + 5000]]
        resolve_order_services(docs)  # as POST /user_actions does: orders get their journey's service
        for doc in docs:
            doc["about_service"] = history.is_about_service(doc)  # read by `about_service` only
        database()["user_actions"].insert_many(docs, ordered=False)
    for start in range(0, len(events), 5000):
        database()["events"].insert_many([event_document(e, now) for e in events[start:start + 5000]], ordered=False)
    return time.perf_counter() - started


def interactions(docs) -> int:
    """What every read does with the actions it got: interaction dicts (orders' services too)."""
    order_services = history.OrderServices()
    return len([item for doc in docs if (item := history.action_interaction(doc, order_services))])


def read_or(who: dict) -> int:
    return interactions(UserAction._get_collection().find({**who, **EARLIER_QUERY}, history.ACTION_FIELDS)
                        .sort(NEWEST).limit(LATEST))


def read_python_filter(who: dict) -> int:
    return len(history.latest_actions(who, LATEST, history.OrderServices()))


def read_about_service(who: dict) -> int:
    return interactions(UserAction._get_collection().find({**who, "about_service": True}, history.ACTION_FIELDS)
                        .sort(NEWEST).limit(LATEST))


def read_history(who: dict) -> int:
    if "user_id" in who:
        return len(history.latest_of_user(who["user_id"], LATEST))
    return len(history.latest_of_visitor(who["unique_id"], LATEST))


READS = {"or": read_or, "python-filter": read_python_filter, "about_service": read_about_service,
         "history": read_history}


def measure(identities: list[dict], reads: list[str], deadline: float, timings: dict) -> None:
    """Time each read of each identity into `timings[(read, "user" | "visitor")]` (ms)."""
    for who in identities:
        kind = "user" if "user_id" in who else "visitor"
        for name in reads:
            read = READS[name]
            if time.monotonic() > deadline:
                raise OutOfTime
            started = time.perf_counter()
            read(who)
            timings.setdefault((name, kind), []).append((time.perf_counter() - started) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movielens", type=Path, default=ROOT / "var" / "data" / "ml-100k")
    parser.add_argument("--follow-ups", type=int, default=0)
    parser.add_argument("--identities", type=int, default=30)
    parser.add_argument("--alternative", action="store_true", help="also measure the about_service flag")
    parser.add_argument("--reads", default=",".join(READS), help="which reads to time, comma-separated")
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    market = convert_movielens(args.movielens)
    actions = with_follow_ups(market.user_actions, args.follow_ups)
    with harness.stack("history-reads-") as (settings, _procs, _workdir):
        app = create_app({**settings, "HISTORY_CACHE_TTL_SECONDS": 0})  # every read from MongoDB
        with app.app_context():
            stored = store(actions, market.events, args.alternative)
            print(f"stored {len(actions):,} user actions and {len(market.events):,} events in {stored:.1f} s "
                  f"(load {harness.load_average()})")
            rng = random.Random(0)
            users = sorted({a["user_id"] for a in market.user_actions})
            sessions = sorted({a["unique_id"] for a in market.user_actions})
            identities = ([{"user_id": u} for u in rng.sample(users, min(args.identities, len(users)))]
                          + [{"unique_id": s} for s in rng.sample(sessions, min(args.identities, len(sessions)))])
            rng.shuffle(identities)
            reads = [name for name in args.reads.split(",") if args.alternative or name != "about_service"]
            timings: dict[tuple[str, str], list[float]] = {}
            try:
                measure(identities, reads, deadline, timings)
            except OutOfTime:
                print(f"stopped after {args.max_seconds:.0f} s: the reads measured so far")
        print(f"cold reads of the latest {LATEST}, ms ({len(actions):,} actions stored, "
              f"load {harness.load_average()}):")
        print(f"{'read':14} {'who':8} {'n':>4} {'p50':>9} {'max':>9}")
        for (name, kind), values in timings.items():
            values.sort()
            print(f"{name:14} {kind:8} {len(values):4} {harness.percentile(values, 0.5):9.1f} {values[-1]:9.1f}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
