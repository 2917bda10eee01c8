"""Similar services on MovieLens: does "services like this one" name the service a user takes next?

    .venv/bin/python benchmarks/similar_services.py [--data ml-100k|latest-small] [--dir var/data/ml-100k]
                                                    [--cut 0.8] [--calls 2000] [--http-calls 1000] [--no-http]
    .venv/bin/python benchmarks/similar_services.py --url http://localhost:5000   # the endpoint of `make run`

Protocol. The ratings are cut in time (the first `--cut` of them, as benchmarks/replay.py
cuts them). Before the cut is what the service knows: the Session model (co-visitation)
is fitted on it, ratings of 4 or 5 as orders and lower ones as views (as the demo imports
them and as a rating event counts when served), and the popularity counts of the baseline
come from its orders. After the cut, each user's orders in time order give held-out
pairs: every order and the user's next one. Given the first service of a pair, each
method names 10 services (never the first one); a pair is a hit when the partner is among
them. HR@10 is the share of pairs hit, with a 95% interval from resampling users (2,000
draws), since a user's pairs are not independent.

Methods: Similar as served (co-visitation and content blended, app/engines/similar.py);
its two halves alone (co-visitation only, content only); the category-popularity
baseline (the most ordered services before the cut among those sharing a category with
the first service, topped up with the most ordered overall); and overall popularity.

Timing: the pure call (SimilarServices.recommend with every other service as a candidate,
k=10, as GET /services/<id>/similar asks it) over `--calls` random services, and the
endpoint itself through Flask's test client over `--http-calls` requests, on a stack
started here (SecantusDB and Redis): the dump at the cut ingested, the Session model
registered and activated. One thread for numpy's BLAS (OMP_NUM_THREADS=1). The content
index's build time and memory are measured on the catalogue's services too.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.engines import InteractionType, RecommendationContext, SimilarParams, SimilarServices, fit_session
from app.engines.covisitation import SessionModel
from app.recommendations.catalogue_index import CatalogueIndex
from app.sample_data.movielens_files import DEFAULT_MOVIELENS_DIR, fetch_movielens
from benchmarks.harness import load_average, percentile
from benchmarks.replay_data import Rating, ReplayData, build_dump, movielens_100k, movielens_latest_small, split

K = 10
BOOTSTRAP_DRAWS = 2000
NO_CONTENT = SimilarParams(content_weights={})


def load(name: str, directory: Path) -> ReplayData:
    if name == "latest-small":
        return movielens_latest_small()
    return movielens_100k(fetch_movielens(directory))  # downloads the files once when they are missing


def fit_before(before: list[Rating]) -> SessionModel:
    """The Session model the service would serve at the cut."""
    types = np.array([InteractionType.ORDER if r.taken else InteractionType.VIEW for r in before], dtype=np.int8)
    return fit_session(np.array([r.user_id for r in before]), np.array([r.service_id for r in before]), types,
                       np.array([r.timestamp for r in before], dtype=np.float64))


def held_out_pairs(after: list[Rating]) -> list[tuple[int, int, int]]:
    """(user, first service, the user's next ordered service) for each order after the cut but the user's last."""
    orders: dict[int, list[int]] = {}
    for rating in after:  # oldest first
        if rating.taken:
            orders.setdefault(rating.user_id, []).append(rating.service_id)
    return [(user, first, second) for user, taken in orders.items() for first, second in zip(taken, taken[1:])
            if first != second]


def has_neighbours(model: SessionModel, service_id: int) -> bool:
    row = int(np.searchsorted(model.service_ids, service_id))
    known = row < model.service_ids.size and model.service_ids[row] == service_id
    return bool(known and model.neighbour_indptr[row + 1] > model.neighbour_indptr[row])


class CategoryPopularity:
    """The most ordered services (before the cut) sharing a category with the given one, then the most ordered."""

    def __init__(self, catalogue: CatalogueIndex, before: list[Rating]):
        counts = Counter(r.service_id for r in before if r.taken)
        self.rank = {s: (-counts[s], s) for s in catalogue.ids.tolist()}
        self.by_popularity = sorted(self.rank, key=self.rank.get)
        self.categories = catalogue.categories
        self.in_category: dict[int, list[int]] = {}  # category → its services, most ordered first
        for service_id in self.by_popularity:
            for category in self.categories[service_id]:
                self.in_category.setdefault(category, []).append(service_id)

    def top(self, service_id: int, k: int) -> list[int]:
        # The k most ordered of the union of the categories are among each category's k + 1 first.
        alike = {s for c in self.categories.get(service_id, ()) for s in self.in_category[c][:k + 1]}
        alike = sorted(alike - {service_id}, key=self.rank.get)[:k]
        rest = [s for s in self.by_popularity[:2 * k + 1] if s != service_id and s not in alike]
        return (alike + rest)[:k]


class Popular:
    def __init__(self, catalogue: CatalogueIndex, before: list[Rating]):
        counts = Counter(r.service_id for r in before if r.taken)
        self.by_popularity = sorted(catalogue.ids.tolist(), key=lambda s: (-counts[s], s))

    def top(self, service_id: int, k: int) -> list[int]:
        return [s for s in self.by_popularity[:k + 1] if s != service_id][:k]


class EngineMethod:
    def __init__(self, engine: SimilarServices, catalogue: CatalogueIndex):
        self.engine, self.ids = engine, catalogue.ids

    def top(self, service_id: int, k: int) -> list[int]:
        return self.engine.recommend(context_for(self.ids, service_id, k)).ids.tolist()


def context_for(ids: np.ndarray, service_id: int, k: int) -> RecommendationContext:
    return RecommendationContext(candidates=ids[ids != service_id], k=k, now=time.time(), context_service_id=service_id)


def hit_rate(method, pairs: list[tuple[int, int, int]], rng: np.random.Generator) -> tuple[float, float, float]:
    """HR@K over the pairs and its 95% interval from resampling users."""
    hits = np.array([second in method.top(first, K) for _, first, second in pairs], dtype=np.float64)
    users = np.array([user for user, _, _ in pairs])
    unique, inverse = np.unique(users, return_inverse=True)
    hits_of, pairs_of = np.bincount(inverse, weights=hits), np.bincount(inverse).astype(np.float64)
    draws = rng.integers(0, unique.size, size=(BOOTSTRAP_DRAWS, unique.size))
    rates = hits_of[draws].sum(axis=1) / pairs_of[draws].sum(axis=1)
    return float(hits.mean()), float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))


def timed(call, arguments: list) -> tuple[float, float]:
    """p50 and p99 in milliseconds of `call(argument)` over the arguments."""
    seconds = []
    for argument in arguments:
        began = time.perf_counter()
        call(argument)
        seconds.append(time.perf_counter() - began)
    seconds.sort()
    return 1000 * percentile(seconds, 0.5), 1000 * percentile(seconds, 0.99)


def content_build(template: dict) -> tuple[float, CatalogueIndex]:
    """Seconds to build the catalogue index (content index included), best of three, and the index."""
    services = [{**s, "marketplace_id": s["id"]} for s in template["services"]]
    best, built = float("inf"), None
    for _ in range(3):
        began = time.perf_counter()
        built = CatalogueIndex.build("benchmark", services)
        best = min(best, time.perf_counter() - began)
    return best, built


def http_timing(dump: dict, model: SessionModel, service_ids: list[int]) -> tuple[float, float]:
    """p50 and p99 in ms of GET /services/<id>/similar through Flask's test client, on a real stack."""
    from app import create_app, model_registry
    from app.marketplace import dumps, ingestion
    from benchmarks.harness import stack

    with stack("similar-bench-") as (settings, _, _):
        app = create_app({**settings, "API_TOKENS": [], "RECOMMENDATION_TOKENS": []})
        with app.app_context():
            snapshot = dumps.store_dump(dump, source="benchmark")
            ingestion.ingest_snapshot(snapshot.id)
            version = model_registry.register("Session", model.to_arrays(), model.params(), dataset_id=snapshot.id)
            model_registry.activate(version)
            app.extensions["serving_state"].rebuild_now()
        client = app.test_client()

        def get(service_id: int) -> None:
            response = client.get(f"/services/{service_id}/similar?k={K}")
            assert response.status_code == 200, response.get_json()

        for service_id in service_ids[:50]:  # warm up
            get(service_id)
        return timed(get, service_ids)


def url_timing(url: str, service_ids: list[int]) -> tuple[float, float, float, float]:
    """First-request, p50, p99 and max ms of GET /services/<id>/similar on a running stack (`make run`),
    one keep-alive connection, no warm-up: the first requests count as a new user's do."""
    import requests

    with requests.Session() as session:
        took = []
        for service_id in service_ids:
            began = time.perf_counter()
            response = session.get(f"{url}/services/{service_id}/similar", params={"k": K}, timeout=30)
            took.append(1000 * (time.perf_counter() - began))
            assert response.status_code in (200, 404), (response.status_code, response.text)
    ordered = sorted(took)
    return took[0], percentile(ordered, 0.5), percentile(ordered, 0.99), ordered[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("ml-100k", "latest-small"), default="ml-100k")
    parser.add_argument("--dir", type=Path, default=DEFAULT_MOVIELENS_DIR)
    parser.add_argument("--cut", type=float, default=0.8)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--http-calls", type=int, default=1000)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="time only the endpoint of this running stack (e.g. http://localhost:5000 "
                                      "after `make run` loaded the demo), over --http-calls random MovieLens ids")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.url:
        asked = rng.integers(1, 1683, size=args.http_calls).tolist()  # MovieLens 100K's film ids
        first, p50, p99, slowest = url_timing(args.url.rstrip("/"), asked)
        print(f"GET {args.url}/services/<id>/similar?k={K}, {args.http_calls} requests, one connection, "
              f"no warm-up (load {load_average()}): first {first:.1f} ms, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"max {slowest:.1f} ms")
        return

    data = load(args.data, args.dir)
    cut = split(data.ratings, args.cut, None)
    build_seconds, catalogue = content_build(data.template)
    model = fit_before(cut.before)
    pairs = held_out_pairs(cut.replayed)
    print(f"{data.name}: {len(catalogue)} services, {len(cut.before)} ratings before the cut, "
          f"{len(pairs)} held-out pairs of {len({u for u, _, _ in pairs})} users; load {load_average()}")
    print(f"catalogue index build (content included): {1000 * build_seconds:.0f} ms; content index "
          f"{catalogue.content.nbytes / 2**20:.2f} MiB ({catalogue.content.text.shape[1]} words)")

    methods = {
        "Similar (co-visitation + content)": EngineMethod(SimilarServices(catalogue.content, model), catalogue),
        "co-visitation only": EngineMethod(SimilarServices(catalogue.content, model, NO_CONTENT), catalogue),
        "content only": EngineMethod(SimilarServices(catalogue.content, None), catalogue),
        "category popularity (baseline)": CategoryPopularity(catalogue, cut.before),
        "popularity": Popular(catalogue, cut.before),
    }
    # Pairs whose first service nobody co-visited before the cut: only content can answer them.
    cold = [pair for pair in pairs if not has_neighbours(model, pair[1])]
    print(f"\n| method | HR@{K} | 95% interval | HR@{K}, first service without co-visits ({len(cold)} pairs) |")
    print("|---|---|---|---|")
    for name, method in methods.items():
        rate, low, high = hit_rate(method, pairs, rng)
        cold_rate = f"{hit_rate(method, cold, rng)[0]:.3f}" if cold else "-"
        print(f"| {name} | {rate:.3f} | {low:.3f} to {high:.3f} | {cold_rate} |")

    engine = methods["Similar (co-visitation + content)"].engine
    asked = rng.choice(catalogue.ids, size=args.calls).tolist()
    p50, p99 = timed(lambda s: engine.recommend(context_for(catalogue.ids, s, K)), asked)
    print(f"\npure call, k={K}, {args.calls} calls: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"(every service's top {K} computed ahead would take about {len(catalogue) * p50 / 1000:.1f} s "
          f"per snapshot and process)")
    if not args.no_http:
        asked = rng.choice(catalogue.ids, size=args.http_calls).tolist()
        p50, p99 = http_timing(build_dump(data.template, cut.before), model, asked)
        print(f"GET /services/<id>/similar?k={K} (Flask test client), {args.http_calls} requests: "
              f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
