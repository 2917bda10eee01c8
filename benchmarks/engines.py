"""Fit time and per-request time of the model-free engines on a synthetic marketplace.

    .venv/bin/python benchmarks/engines.py [--services 10000] [--users 100000] [--requests 2000]

One thread: BLAS/OpenMP pools are pinned to 1 thread before numpy loads, and
torch, should anything have imported it, to 1 thread too. Timings on a shared
machine are noisy; the load average is printed beside them.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.engines import (
    Interactions,
    Popularity,
    Random,
    RecommendationContext,
    ServiceCategories,
    Session,
    fit_popularity,
    fit_session,
)

DAY = 86_400.0
CATEGORIES = 50
START = 1_700_000_000.0


def synthetic_interactions(services: int, users: int, per_user: float, rng) -> dict[str, np.ndarray]:
    """Users who mostly browse their favourite category, a few popular services most."""
    counts = rng.poisson(per_user, users)
    user_of_event = np.repeat(np.arange(users), counts)  # (n,)
    n = user_of_event.size
    favourite = rng.integers(0, CATEGORIES, users)[user_of_event]
    in_favourite = rng.random(n) < 0.8
    rank = np.floor((services // CATEGORIES) * rng.random(n) ** 2).astype(np.int64)  # skewed to low ranks
    category = np.where(in_favourite, favourite, rng.integers(0, CATEGORIES, n))
    service_ids = 1 + category + CATEGORIES * rank  # service s is in category (s - 1) % CATEGORIES
    types = rng.choice(4, size=n, p=[0.7, 0.2, 0.05, 0.05]).astype(np.int8)
    gaps = np.where(rng.random(n) < 0.1, rng.exponential(3 * DAY, n), rng.exponential(300.0, n))
    first_of_user = np.cumsum(counts) - counts
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first_of_user[counts > 0]] - gaps[first_of_user[counts > 0]], counts[counts > 0])
    timestamps = START + rng.uniform(0, 150 * DAY, users)[user_of_event] + elapsed
    return {"users": user_of_event, "services": service_ids, "types": types, "timestamps": timestamps}


def service_categories(services: int, rng) -> ServiceCategories:
    extra = rng.integers(1, CATEGORIES + 1, services)
    return ServiceCategories.from_mapping({
        s: [1 + (s - 1) % CATEGORIES] + ([int(extra[s - 1])] if s % 2 else []) for s in range(1, services + 1)
    })


def request_contexts(data: dict, services: int, requests: int, candidates: int, rng) -> list[RecommendationContext]:
    """Contexts of random users: their last 50 interactions as history, the 3 after as the session."""
    by_user = np.lexsort((data["timestamps"], data["users"]))
    users = data["users"][by_user]
    starts = np.searchsorted(users, np.arange(users.max() + 2))
    now = float(data["timestamps"].max())
    contexts = []
    for user in rng.integers(0, users.max() + 1, requests):
        rows = by_user[max(starts[user], starts[user + 1] - 53):starts[user + 1]]
        history, session = rows[:-3], rows[-3:]
        pool = np.arange(1, services + 1) if candidates >= services else rng.choice(services, candidates) + 1
        contexts.append(RecommendationContext(
            candidates=pool, k=3, now=now, user_id=int(user),
            history=Interactions(data["services"][history], data["types"][history], data["timestamps"][history]),
            session=Interactions(data["services"][session], data["types"][session], data["timestamps"][session])))
    return contexts


def per_request_ms(engine, contexts) -> tuple[float, float]:
    """p50 and p99 of `engine.recommend` over the contexts, one call at a time."""
    for context in contexts[:20]:
        engine.recommend(context)  # warm caches and lazy imports
    times = []
    for context in contexts:
        began = time.perf_counter()
        engine.recommend(context)
        times.append(time.perf_counter() - began)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def timed(function, *args):
    began = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--per-user", type=float, default=10.0, help="mean interactions per user")
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    if "torch" in sys.modules:  # the engines do not use it, but a later one may pull it in
        sys.modules["torch"].set_num_threads(1)
        torch_threads = f"torch threads {sys.modules['torch'].get_num_threads()}"
    else:
        torch_threads = "torch not imported"
    print(f"threads: one (OMP/OPENBLAS/MKL_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {torch_threads}), "
          f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    data = synthetic_interactions(args.services, args.users, args.per_user, rng)
    categories = service_categories(args.services, rng)
    print(f"data: {args.services} services, {args.users} users, {data['services'].size} interactions")

    popularity_model, popularity_fit = timed(fit_popularity, data["services"], data["types"], data["timestamps"],
                                             categories)
    session_model, session_fit = timed(fit_session, data["users"], data["services"], data["types"],
                                       data["timestamps"])
    print(f"fit: Popularity {popularity_fit:.2f} s, Session {session_fit:.2f} s "
          f"({session_model.neighbour_positions.size} neighbour entries)")

    engines = {"Random": Random(), "Popularity": Popularity(popularity_model), "Session": Session(session_model)}
    for candidates in (args.services, 200):
        contexts = request_contexts(data, args.services, args.requests, candidates, rng)
        for name, engine in engines.items():
            p50, p99 = per_request_ms(engine, contexts)
            print(f"recommend k=3, {candidates:>5} candidates, history <= 50 + session 3: "
                  f"{name:<10} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  ({len(contexts)} calls)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (2-core machine shared with other work: figures are noisy)")


if __name__ == "__main__":
    main()
