"""Objectives on MovieLens 100K: does `objective=order` find the next order better than
`objective=click`, and `click` the next click better than `order`?

    .venv/bin/python benchmarks/objectives.py [--data var/data/ml-100k] [--cut 0.8]

Ratings of 4 or 5 are orders, lower ones clicks (a rating says the user watched the film;
only a high one says they would take it again). Each user's ratings are cut at the
`--cut` share of them, in time order. Popularity (with genres as categories) and Session
are fitted on everyone's part before their cut by the service's own fitting code, with
their default objective weights (app/engines/interactions.py). Each user with a click and
an order after their cut is asked once per objective, with their latest 30 interactions
before it as history and every film they did not rate before it as candidates: a hit is
their first order after the cut among the 10 (order HR@10), and their first click after
the cut among them (click HR@10). 95% intervals are Wilson intervals over the users asked.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.engines import (  # noqa: E402
    Interactions,
    InteractionType,
    Popularity,
    RecommendationContext,
    ServiceCategories,
    Session,
    fit_popularity,
    fit_session,
)
from app.experiments.statistics import wilson_interval  # noqa: E402
from app.sample_data.movielens_files import DEFAULT_MOVIELENS_DIR, fetch_movielens  # noqa: E402

HISTORY = 30
K = 10


def load(directory: Path) -> tuple[np.ndarray, ...]:
    """(users, items, types, timestamps) in time order, and the items' genres."""
    rows = np.loadtxt(directory / "ml-100k.inter", skiprows=1, delimiter="\t")
    rows = rows[np.argsort(rows[:, 3], kind="stable")]
    users, items = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    types = np.where(rows[:, 2] >= 4, InteractionType.ORDER, InteractionType.CLICK).astype(np.int8)
    genres_of, genre_ids = {}, {}
    for line in (directory / "ml-100k.item").read_text(encoding="latin-1").splitlines()[1:]:
        fields = line.split("\t")
        genres_of[int(fields[0])] = [genre_ids.setdefault(g, len(genre_ids) + 1) for g in fields[-1].split()]
    return users, items, types, rows[:, 3], genres_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_MOVIELENS_DIR)
    parser.add_argument("--cut", type=float, default=0.8, help="share of the ratings, by time, to fit on")
    args = parser.parse_args()
    users, items, types, times, genres_of = load(fetch_movielens(args.data))
    before = np.zeros(users.size, dtype=bool)  # each user's first `cut` share of their ratings, in time order
    for user in np.unique(users):
        mine = np.flatnonzero(users == user)  # already in time order
        before[mine[:int(round(args.cut * mine.size))]] = True
    engines = {
        "Popularity": Popularity(fit_popularity(items[before], types[before], times[before],
                                                ServiceCategories.from_mapping(genres_of))),
        "Session": Session(fit_session(users[before], items[before], types[before], times[before])),
    }
    catalogue = np.unique(items)
    asked = 0
    hits = {(engine, objective, target): 0 for engine in engines for objective in ("click", "order")
            for target in ("click", "order")}
    for user in np.unique(users):
        mine = users == user
        past, future = mine & before, mine & ~before
        first = {target: items[future & (types == code)][:1] for target, code in
                 (("click", InteractionType.CLICK), ("order", InteractionType.ORDER))}
        if not past.any() or not all(found.size for found in first.values()):
            continue  # a user who clicked and ordered after the cut, and did something before it
        asked += 1
        history = Interactions(items[past][-HISTORY:], types[past][-HISTORY:], times[past][-HISTORY:])
        candidates = np.setdiff1d(catalogue, items[past])
        for name, engine in engines.items():
            for objective in ("click", "order"):
                context = RecommendationContext(candidates=candidates, k=K, now=float(times[past][-1]),
                                                user_id=int(user),
                                                history=history, objective=objective)
                shown = engine.recommend(context).ids
                for target, wanted in first.items():
                    hits[(name, objective, target)] += bool(np.isin(wanted, shown).any())
    print(f"MovieLens 100K, each user's first {args.cut:.0%} of ratings to fit on ({int(before.sum()):,}), "
          f"{asked} users asked (each with a click and an order after their cut)")
    print("| engine | objective | order HR@10 (95%) | click HR@10 (95%) |")
    print("|---|---|---|---|")
    for name in engines:
        for objective in ("click", "order"):
            cells = []
            for target in ("order", "click"):
                found = hits[(name, objective, target)]
                low, high = wilson_interval(found, asked)
                cells.append(f"{found / asked:.3f} ({low:.3f} to {high:.3f})")
            print(f"| {name} | {objective} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
