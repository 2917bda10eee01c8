"""Offline quality on MovieLens 100K: NCF against Popularity, EASE and Random, one table.

    .venv/bin/python benchmarks/quality.py [--data var/data/ml-100k] [--threads 1] [--compare-threads]
                                           [--members 1 5] [--distill 5] [--holdout latest|random]
                                           [--seed 0] [--history-length L]

MovieLens goes through the marketplace converter (app/sample_data/movielens.py):
ratings of 4 or 5 are the users' accessed services, in time order. Each user's
latest one is held out (users with one rating of 4+ are not tested). Every model
is scored the same way: HR@10 and NDCG@10 among 100 sampled services the user
never took, and over the full catalogue minus the user's training services.
EASE's λ is chosen on a validation split of the training data (each user's
latest training interaction), as NCF's epoch count is. One NCF row per
`--members` value: that many members averaged into one wider served network
(app/training/ncf_ensembles.py; 1 is a single model), its training seconds counting all of
them. One more row per `--distill` value: that many members distilled into one
network of a member's size (`NCFConfig.distill`), served at a single model's cost;
its seconds count the members and the distillation. Five distilled is the default
config. `--seed` seeds NCF (`NCFConfig.seed`), `--history-length` overrides
`NCFConfig.history_length` (0: no history term). `--holdout random` holds
out a random interaction per user instead (a diagnostic: it shows how much of the
difficulty comes from predicting the latest one).

Threads: BLAS/OpenMP pools are set before numpy loads and torch is set to the
same count (`--threads`); `--compare-threads` also times NCF training with the
other of 1 and 2 threads. Timings on a shared machine are noisy: the load
average is printed beside them.
"""
from __future__ import annotations

import argparse
import os
import sys


def _threads_from_argv() -> int:
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return 1


for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = str(_threads_from_argv())

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.engines import RecommendationContext
from app.engines.ncf import NCF
from app.sample_data.movielens import convert_movielens
from app.sample_data.movielens_files import (
    DEFAULT_MOVIELENS_DIR,
    MovieLensUnavailable,
    fetch_movielens,
)
from app.training.baselines import (
    EASEConfig,
    RandomBaseline,
    fit_ease,
    fit_popularity_baseline,
)
from app.training.dataset import InteractionData, interaction_data_from_dump
from app.training.evaluation import Split, leave_last_out, ranking_metrics
from app.training.ncf_network import NCFConfig
from app.training.ncf_training import NCFTrainingConfig, train_ncf

EASE_L2_GRID = (50.0, 100.0, 200.0, 500.0, 1000.0)
COLUMNS = ("hr@10_sampled", "ndcg@10_sampled", "hr@10_full", "ndcg@10_full", "recall@10_full", "mrr_full",
           "coverage@10_full")


def load(directory: Path) -> InteractionData:
    """MovieLens 100K through the marketplace converter, as training arrays."""
    return interaction_data_from_dump(convert_movielens(fetch_movielens(directory)).dump)


def fit_ncf_run(data: InteractionData, threads: int, members: int = 1, distill: bool = False, seed: int = 0,
                history_length: int = NCFConfig.history_length) -> tuple[dict, float, object]:
    """NCF's metrics, training seconds (both autoencoders and NCF) and the exported model."""
    torch.set_num_threads(threads)
    config = NCFConfig(members=members, distill=distill, seed=seed, history_length=history_length)
    result = train_ncf(data, NCFTrainingConfig(ncf=config, refit_on_all=False))
    reports = result.metrics["reports"]
    seconds = sum(reports[name]["seconds"] for name in ("user_autoencoder", "service_autoencoder", "ncf"))
    return result.metrics, seconds, result.model


def tuned_ease_l2(data: InteractionData, split: Split) -> float:
    """The λ with the best validation NDCG@10 (full catalogue) on each user's latest training interaction."""
    inner = leave_last_out(split.train_users, split.train_items, split.train_order)
    scores = {}
    for l2 in EASE_L2_GRID:
        model = fit_ease(inner.train_users, inner.train_items, data.n_users, data.n_services, EASEConfig(l2))
        scores[l2] = ranking_metrics(model.score_users, inner, data.recommendable)["ndcg@10_full"]
    return max(scores, key=scores.get)


def baseline_rows(data: InteractionData, split: Split) -> list[tuple[str, dict, float]]:
    """(name, metrics, training seconds) of Popularity, EASE and Random."""
    rows = []
    l2 = tuned_ease_l2(data, split)
    fits = {
        "Popularity": lambda: fit_popularity_baseline(split.train_users, split.train_items, data.n_users,
                                                      data.n_services),
        f"EASE (λ={l2:g})": lambda: fit_ease(split.train_users, split.train_items, data.n_users, data.n_services,
                                             EASEConfig(l2)),
        "Random": lambda: RandomBaseline(data.n_services),
    }
    for name, fit in fits.items():
        started = time.perf_counter()
        model = fit()
        seconds = time.perf_counter() - started
        rows.append((name, ranking_metrics(model.score_users, split, data.recommendable), seconds))
    return rows


def serving_milliseconds(model, data: InteractionData, requests: int = 300) -> tuple[float, float]:
    """Median and 95th percentile of one NCF request (k=3, every service a candidate), known users
    with every service they took (in time order) in the request."""
    engine, rng = NCF(model), np.random.default_rng(0)
    timings = []
    for user in rng.choice(data.users.ids, requests):
        row = data.users.positions(np.array([user]))[0][0]
        taken = np.flatnonzero(data.user_rows == row)
        taken = taken[np.argsort(data.order[taken], kind="stable")]
        context = RecommendationContext(candidates=data.services.ids, k=3, now=0.0, user_id=int(user),
                                        taken=data.services.ids[data.service_rows[taken]])
        started = time.perf_counter()
        engine.recommend(context)
        timings.append(1000 * (time.perf_counter() - started))
    return float(np.median(timings)), float(np.percentile(timings, 95))


def print_table(rows: list[tuple[str, dict, float]]) -> None:
    header = f"{'model':<18}" + "".join(f"{c:>17}" for c in COLUMNS) + f"{'train s':>10}"
    print(header)
    print("-" * len(header))
    for name, metrics, seconds in rows:
        print(f"{name:<18}" + "".join(f"{metrics[c]:>17.4f}" for c in COLUMNS) + f"{seconds:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_MOVIELENS_DIR)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--compare-threads", action="store_true", help="also time NCF with the other of 1 and 2")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 5],
                        help="one NCF row per value: models averaged into the served one")
    parser.add_argument("--distill", type=int, nargs="*", default=[5],
                        help="one NCF row per value: that many models distilled into one of the default size")
    parser.add_argument("--holdout", choices=("latest", "random"), default="latest",
                        help="which interaction of each user is held out")
    parser.add_argument("--seed", type=int, default=0, help="NCFConfig.seed")
    parser.add_argument("--history-length", type=int, default=NCFConfig.history_length,
                        help="NCFConfig.history_length: latest services in the user's GMF factors (0: none)")
    args = parser.parse_args()
    try:
        data = load(args.data)
    except MovieLensUnavailable as exc:
        sys.exit(f"MovieLens 100K could not be fetched: {exc}")
    if args.holdout == "random":
        data = replace(data, order=np.random.default_rng(0).random(data.order.size))
    split = leave_last_out(data.user_rows, data.service_rows, data.order)
    print(f"MovieLens 100K: {data.n_users} users, {data.n_services} services, {data.user_rows.size} ratings >= 4; "
          f"{split.test_users.size} test users, each with their {args.holdout} interaction held out")
    print(f"threads: torch {args.threads}, BLAS {os.environ['OMP_NUM_THREADS']}; NCF seed {args.seed}, "
          f"history length {args.history_length}; load average before: {os.getloadavg()[0]:.2f}")
    names = {(members, False): f"NCF ×{members}" if members > 1 else "NCF ×1" for members in args.members}
    names |= {(members, True): f"NCF ×{members}→1" for members in args.distill if members > 1}
    default = (NCFConfig.members, NCFConfig.distill)
    names = {key: f"{name} (default)" if key == default else name for key, name in names.items()}
    ncf_runs = {name: fit_ncf_run(data, args.threads, members, distill, args.seed, args.history_length)
                for (members, distill), name in names.items()}
    rows = [(name, metrics, seconds) for name, (metrics, seconds, _) in ncf_runs.items()]
    print_table([*rows, *baseline_rows(data, split)])
    for name, (metrics, _, model) in ncf_runs.items():
        reports = metrics["reports"]
        median, p95 = serving_milliseconds(model, data)
        served = "distilled into one" if "→1" in name else "merged"
        print(f"{name}: {reports['ncf']['epochs']} epochs (best {reports['ncf']['best_epoch']}), refitted "
              f"{reports['ncf']['refitted']} with {reports['ncf']['members']} member(s), {served}; "
              f"autoencoders {reports['user_autoencoder']['seconds']:.1f} s + "
              f"{reports['service_autoencoder']['seconds']:.1f} s, NCF {reports['ncf']['seconds']:.1f} s; "
              f"one request over all {data.n_services} services: median {median:.2f} ms, p95 {p95:.2f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    ncf_seconds = next(iter(ncf_runs.values()))[1]
    if args.compare_threads:
        other = 2 if args.threads == 1 else 1
        _, seconds, _ = fit_ncf_run(data, other, seed=args.seed, history_length=args.history_length)
        print(f"NCF training with torch {other} thread(s): {seconds:.1f} s "
              f"(vs {ncf_seconds:.1f} s with {args.threads}); load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
