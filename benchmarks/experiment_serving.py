"""What a running experiment costs serving: POST /recommendations with no experiment, with an
experiment of two variants, and with the same two variants and a shadow, on a running stack.

    make run   # in another terminal: the stack with the demo data, NCF trained
    .venv/bin/python benchmarks/experiment_serving.py [--url http://127.0.0.1:5000]
        [--mongodb mongodb://127.0.0.1:27017/marketrec] [--seconds 20] [--connections 1 16]
        [--repeats 2] [--token TOKEN] [--json PATH]

Requests are benchmarks/harness.RecommendationMix's (logged-in users and anonymous visitors,
panels of all services or of 20-200 candidates, a few rankings), without `engine_version` on
panel requests, so that an experiment takes them (rankings name NCFRanking and bypass it, as
they would in production). The users and services are read from the stack's database.
Phases run in turn, `--repeats` times (none, NCF twice, NCF and Popularity, with a shadow, none, ...),
so that a drift of the shared machine falls on every phase alike; each phase gives p50, p99
and requests per second at each connection count, with the load average. Experiments are
started and stopped through the API (`--token` when writes need one); the API processes see
a change within a second (the stamp poll), and each phase starts 2 s after it.

The experiments, on every panel request, half the traffic each: NCF against NCF (what the
experiment's bookkeeping costs: the same engine as without one, the default here); NCF
against Popularity (half the panels from a cheaper engine); and the same with a Session
shadow (computed and logged for every panel of the experiment): the shadow's cost is the
difference between the last two.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.harness import RecommendationMix, load_average, percentile, run_load  # noqa: E402

NCF_TWICE = [{"name": "ncf", "engine": "NCF", "share": 0.5, "control": True},
             {"name": "ncf again", "engine": "NCF", "share": 0.5}]
VARIANTS = [{"name": "ncf", "engine": "NCF", "share": 0.5, "control": True},
            {"name": "popularity", "engine": "Popularity", "share": 0.5}]
SHADOW = {"name": "session", "engine": "Session", "shadow": True}
PHASES = {"no experiment": None, "NCF against NCF": NCF_TWICE, "NCF against Popularity": VARIANTS,
          "the same + Session shadow": [*VARIANTS, SHADOW]}


def call(url: str, method: str, path: str, body=None, token: str | None = None):
    request = urllib.request.Request(f"{url}{path}", method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def ids_of(mongodb: str) -> tuple[list[int], list[int], list[str]]:
    import pymongo

    database = pymongo.MongoClient(mongodb).get_default_database()
    snapshot = database["active_snapshot"].find_one()["snapshot_id"]
    users = [u["marketplace_id"] for u in database["users"].find({"snapshot_id": snapshot}, {"marketplace_id": 1})]
    services = [s["marketplace_id"] for s in database["services"].find(
        {"snapshot_id": snapshot, "status": {"$in": ["published", "unverified"]}}, {"marketplace_id": 1})]
    visitors = database["user_actions"].distinct("unique_id", {"user_id": None})[:5000]
    return users, services, visitors


class PanelMix:
    """The mix, panel requests without engine_version (an experiment takes them)."""

    def __init__(self, mix: RecommendationMix):
        self.mix = mix

    def __call__(self):
        kind, body = self.mix.payload()
        if kind != "user_ranking":
            body.pop("engine_version")
        return "/recommendations", json.dumps(body).encode(), kind


def stop_running(url: str, token: str | None) -> None:
    for experiment in call(url, "GET", "/experiments?status=running"):
        call(url, "POST", f"/experiments/{experiment['id']}/stop", token=token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--mongodb", default="mongodb://127.0.0.1:27017/marketrec")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--token", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    host, port = args.url.split("//")[1].split(":")
    users, services, visitors = ids_of(args.mongodb)
    print(f"{len(users)} users, {len(services)} recommendable services, {len(visitors)} visitors with actions")
    mix = PanelMix(RecommendationMix(users, services, visitors, seed=1, views_per_session=3))
    results = {name: {c: [] for c in args.connections} for name in PHASES}
    stop_running(args.url, args.token)
    try:
        for repeat in range(args.repeats):
            for name, variants in PHASES.items():
                stop_running(args.url, args.token)
                if variants:
                    call(args.url, "POST", "/experiments", {"name": f"benchmark: {name}", "scope": {},
                                                            "variants": variants}, token=args.token)
                time.sleep(2)
                for connections in args.connections:
                    done, elapsed = run_load(host, int(port), mix, connections, args.seconds, keep_body=True)
                    served = [json.loads(body) for _, status, _, body in done if status == 200]
                    in_experiment = sum(1 for body in served if body.get("experiment"))
                    latencies = sorted(seconds for seconds, status, _, _ in done if status == 200)
                    errors = sum(1 for _, status, _, _ in done if status != 200)
                    row = {"p50_ms": 1000 * percentile(latencies, 0.5), "p99_ms": 1000 * percentile(latencies, 0.99),
                           "mean_ms": 1000 * statistics.mean(latencies),
                           "rps": len(done) / elapsed, "requests": len(done), "errors": errors,
                           "in_experiment": in_experiment, "load": load_average()}
                    results[name][connections].append(row)
                    print(f"[{repeat + 1}] {name:<26} {connections:>2} conn: p50 {row['p50_ms']:.2f} ms, "
                          f"mean {row['mean_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, {row['rps']:.0f} req/s, "
                          f"{errors} errors, "
                          f"{in_experiment} of {len(served)} in the experiment, load {row['load']}", flush=True)
    finally:
        stop_running(args.url, args.token)
    print("\nmedian over repeats:")
    for name, by_connections in results.items():
        for connections, rows in by_connections.items():
            keys = ("p50_ms", "mean_ms", "p99_ms", "rps")
            p50, mean, p99, rps = (statistics.median(r[key] for r in rows) for key in keys)
            print(f"  {name:<26} {connections:>2} conn: p50 {p50:.2f} ms, mean {mean:.2f} ms, p99 {p99:.2f} ms, "
                  f"{rps:.0f} req/s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
