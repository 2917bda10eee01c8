"""Retrieval: how much of exact NCF's top 100 the NCF engine finds when it scores only what it
retrieves, and what each stage costs. On a trained model: MovieLens latest-small or a marketplace
of 100k services.

    .venv/bin/python benchmarks/retrieval.py [--data movielens-small|marketplace] [--services 100000]
                                             [--users 30000] [--asked 300] [--pools 400 1000 2000]

- movielens-small: MovieLens latest-small (671 users, 9,066 films), a film rated 4 or more is
  a taken service (benchmarks/replay_data.py).
- marketplace: `--services` services in 200 categories with lognormal popularity, `--users`
  users with one to three categories of interest, each taking 5 to 40 services: 70% in their
  categories, by popularity, the rest by popularity anywhere (numpy, seeded; the journey
  generator of app/sample_data walks one journey at a time and takes hours at this size).

NCF is trained by the service's trainer (app/training/ncf_training.py) with one member
(`--members`) and at most `--epochs` epochs, its retrieval arrays fitted as every training
fits them. The model is kept in var/data/retrieval/ and reused unless `--retrain`; its
retrieval arrays are fitted again on every run, as the code fits them.

For `--asked` trained users, and as many visitors known only by their categories, the exact
top 100 is NCF's scores over the whole catalogue. Each row retrieves a pool with the engine's
own code (`NCF` with `RetrievalSettings`; a pool is at least 4 × the 100 asked for), NCF
scores the pool, and recall@100 is the share of the exact top 100 in that top 100 (the mean,
and the worst asker's), recall@10 likewise. Times are medians over the askers of one call
each, one thread: exact (NCF over every service), retrieval (the query and the index search)
and the whole `recommend()` call with retrieval.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.engines import RecommendationContext  # noqa: E402
from app.engines.ncf import NCF, NCFModel  # noqa: E402
from app.engines.ncf_retrieval import RetrievalSettings  # noqa: E402
from app.engines.score_cache import ScoreCache  # noqa: E402

KEPT = Path("var/data/retrieval")


def movielens_small_dump() -> dict:
    from replay_data import build_dump, movielens_latest_small

    data = movielens_latest_small()
    return build_dump(data.template, data.ratings)


def marketplace_dump(services: int, users: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    categories = 200
    topic = rng.integers(0, categories, services)
    popularity = rng.lognormal(0.0, 1.2, services)
    by_topic = [np.flatnonzero(topic == c) for c in range(categories)]
    topic_cdf = [np.cumsum(popularity[rows]) / popularity[rows].sum() for rows in by_topic]
    everywhere_cdf = np.cumsum(popularity) / popularity.sum()
    dump_users = []
    for user in range(users):
        interests = rng.choice(categories, size=rng.integers(1, 4), replace=False)
        count = int(rng.integers(5, 41))
        anywhere = np.searchsorted(everywhere_cdf, rng.random(count))
        chosen = interests[rng.integers(0, interests.size, count)]
        local = [by_topic[c][min(np.searchsorted(topic_cdf[c], rng.random()), by_topic[c].size - 1)]
                 if by_topic[c].size else anywhere[i] for i, c in enumerate(chosen)]
        picks = np.where(rng.random(count) < 0.7, local, anywhere)
        dump_users.append({"id": user + 1, "categories": [int(c) + 1 for c in interests],
                           "accessed_services": list(dict.fromkeys(int(p) + 1 for p in picks))})
    return {"services": [{"id": s + 1, "name": f"service {s + 1}", "status": "published",
                          "categories": [int(topic[s]) + 1]} for s in range(services)],
            "users": dump_users}


def trained_model(args) -> NCFModel:
    name = "movielens-small" if args.data == "movielens-small" else f"marketplace-{args.services}-{args.users}"
    weights, params = KEPT / f"{name}.safetensors", KEPT / f"{name}.json"
    if weights.exists() and not args.retrain:
        print(f"model: {weights} (kept; --retrain trains it again)")
        model = NCFModel.from_arrays(load_file(str(weights)), json.loads(params.read_text()))
        began = time.perf_counter()
        model = model.with_retrieval()  # as the code fits them now, whatever the kept file holds
        print(f"retrieval arrays fitted in {time.perf_counter() - began:.0f} s")
        return model
    import torch

    from app.training.dataset import interaction_data_from_dump
    from app.training.ncf_network import NCFConfig
    from app.training.ncf_training import NCFTrainingConfig, train_ncf

    torch.set_num_threads(1)
    began = time.perf_counter()
    dump = movielens_small_dump() if args.data == "movielens-small" else marketplace_dump(args.services, args.users)
    data = interaction_data_from_dump(dump)
    print(f"data: {data.n_users:,} users, {data.n_services:,} services, {data.user_rows.size:,} interactions "
          f"({time.perf_counter() - began:.0f} s)")
    began = time.perf_counter()
    result = train_ncf(data, NCFTrainingConfig(ncf=NCFConfig(members=args.members, distill=False,
                                                             epochs=args.epochs)))
    print(f"trained in {time.perf_counter() - began:.0f} s: HR@10 (sampled) {result.metrics['hr@10_sampled']:.3f}, "
          f"HR@10 (full) {result.metrics['hr@10_full']:.3f}")
    KEPT.mkdir(parents=True, exist_ok=True)
    save_file(result.model.to_arrays(), str(weights))
    params.write_text(json.dumps(result.model.params()))
    return result.model


def askers(model: NCFModel, asked: int) -> tuple[list[dict], list[dict]]:
    """`asked` trained users, and as many visitors known by one facet value users declared (none
    when users declared none, as in MovieLens)."""
    rng = np.random.default_rng(1)
    users = rng.choice(model.user_ids, size=min(asked, model.user_ids.size), replace=False)
    fields = model.hyperparameters.user_feature_fields
    known = list(zip(model.user_vocabulary_field.tolist(), model.user_vocabulary_value.tolist()))
    picks = rng.integers(0, len(known), size=len(users)) if known else []
    visitors = [{"user_features": {fields[known[i][0]]: (known[i][1],)}} for i in picks]
    return [{"user_id": int(u)} for u in users], visitors


def timed(call, *args) -> tuple[float, object]:
    """Milliseconds `call(*args)` took, and what it returned."""
    began = time.perf_counter()
    result = call(*args)
    return (time.perf_counter() - began) * 1e3, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("movielens-small", "marketplace"), default="movielens-small")
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--asked", type=int, default=300)
    parser.add_argument("--pools", type=int, nargs="+", default=[400, 1000, 2000])
    parser.add_argument("--indexes", nargs="+", default=["flat", "hnsw"])
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()
    model = trained_model(args)
    catalogue = model.service_ids
    print(f"catalogue: {catalogue.size:,} services")
    exact_engine = NCF(model, ScoreCache(0))
    users, visitors = askers(model, args.asked)
    print(f"asked: {len(users)} users and {len(visitors)} visitors")
    contexts = [RecommendationContext(candidates=catalogue, k=100, now=0.0, **who) for who in users + visitors]
    exact_ms, truths = [], []
    for context in contexts:
        ms, answer = timed(exact_engine.recommend, context)
        exact_ms.append(ms)
        truths.append(answer.ids)
    print(f"exact NCF over the catalogue: median {np.median(exact_ms):.2f} ms a request")
    print("| index | pool | build s | recall@100 users (worst) | recall@100 visitors (worst) | recall@10 | "
          "retrieval ms | recommend() ms |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in args.indexes:
        for pool in args.pools:
            began = time.perf_counter()
            engine = NCF(model, ScoreCache(0), RetrievalSettings(min_candidates=1, pool=pool, index=kind))
            build = time.perf_counter() - began
            retriever = engine.retrievers[id(engine.scorer)]
            recall100, recall10, stage_ms, whole_ms = [], [], [], []
            for context, truth in zip(contexts, truths):
                ms, answer = timed(engine.recommend, context)
                whole_ms.append(ms)
                recall100.append(np.isin(truth, answer.ids).mean() if truth.size else 1.0)
                recall10.append(np.isin(truth[:10], answer.ids[:10]).mean() if truth.size else 1.0)
                user = engine._user(context)
                allowed = np.ones(catalogue.size, bool)
                stage_ms.append(timed(retriever.rows, user[0], user[1], allowed, context.k)[0])
            print(f"| {kind} | {max(pool, 400)} | {build:.1f} | {recall(recall100[:len(users)])} | "
                  f"{recall(recall100[len(users):])} | {np.mean(recall10):.4f} | "
                  f"{np.median(stage_ms):.2f} | {np.median(whole_ms):.2f} |", flush=True)


def recall(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ({min(values):.2f})" if values else "none asked"


if __name__ == "__main__":
    main()
