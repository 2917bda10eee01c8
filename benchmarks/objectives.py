"""Objectives: does `objective=order` find a person's next order better than `objective=click`,
and `click` their next click better than `order`? On MovieLens 100K or the synthetic marketplace.

    .venv/bin/python benchmarks/objectives.py [--data movielens|synthetic] [--cut 0.8] [--no-ncf]

- MovieLens 100K: ratings of 4 or 5 are orders, lower ones clicks (a rating says the user
  watched the film; only a high one says they would take it again).
- synthetic (app/sample_data/synthetic.py, `--users 2000 --services 300 --journeys 60000`):
  a click in a panel is drawn from popularity and the person's interests; an order of the
  clicked service follows with a chance that grows with their interests alone, so the
  services people click are not the ones they order. Clicks and orders are read from the
  journeys' user actions as the service reads them (a click names its service; an order
  is of the service its journey is about).

Each person's interactions are cut at the `--cut` share of them, in time order. Popularity
(with categories) and Session are fitted on everyone's part before their cut by the service's
own fitting code with their default objective weights (app/engines/interactions.py); NCF is
trained by the service's trainer on the orders before the cut, its click side on the clicks
before it (app/training/ncf_objectives.py). Each logged-in person with a click and an order
after their cut, on services they had not touched before it, is asked once per objective,
with their latest 30 interactions before it as history and every service they did not touch
before it as candidates: a hit is their first such order among the 10 (order HR@10), and
their first such click (click HR@10). 95% intervals are Wilson intervals over those asked.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.engines import (  # noqa: E402
    NCF,
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
from app.recommendations.kept_interactions import interaction_arrays  # noqa: E402
from app.sample_data.movielens import convert_movielens  # noqa: E402
from app.sample_data.movielens_files import DEFAULT_MOVIELENS_DIR, fetch_movielens  # noqa: E402
from app.sample_data.synthetic import generate_marketplace  # noqa: E402
from app.training.dataset import interaction_data  # noqa: E402
from app.training.ncf_objectives import objective_positives  # noqa: E402
from app.training.ncf_training import train_ncf  # noqa: E402

HISTORY = 30
K = 10
OBJECTIVES = ("click", "order")


@dataclass
class Marketplace:
    """People's interactions in time order, and the dump their services and features come from."""

    name: str
    users: np.ndarray  # (n,) int64 user ids
    items: np.ndarray  # (n,) int64 service ids
    types: np.ndarray  # (n,) int8 InteractionType codes
    times: np.ndarray  # (n,) float64 seconds
    dump: dict


def movielens(directory: Path) -> Marketplace:
    directory = fetch_movielens(directory)
    data = convert_movielens(directory)
    rows = np.loadtxt(directory / "ml-100k.inter", skiprows=1, delimiter="\t")
    rows = rows[np.argsort(rows[:, 3], kind="stable")]
    types = np.where(rows[:, 2] >= 4, InteractionType.ORDER, InteractionType.CLICK).astype(np.int8)
    return Marketplace("MovieLens 100K", rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), types,
                       rows[:, 3], data.dump)


def synthetic(users: int, services: int, journeys: int, seed: int) -> Marketplace:
    data = generate_marketplace(services=services, users=users, projects=0, journeys=journeys, seed=seed)
    journey_service: dict[str, int] = {}  # each visitor's service of the journey they are on
    rows = []
    for action in data.user_actions:  # in time order
        visitor, root = action["unique_id"], action["source"].get("root")
        if root is not None:
            journey_service[visitor] = root["resource_id"]
            kind = "click"
        elif action["action"]["order"]:
            kind = "order"
        else:
            continue
        if action.get("user_id") is not None:  # NCF and the questions are about people with an account
            rows.append((action["user_id"], journey_service[visitor], kind,
                         datetime.fromisoformat(action["timestamp"].replace("Z", "+00:00")).timestamp()))
    users_, items, kinds, times = zip(*rows)
    types = np.where(np.array(kinds) == "order", InteractionType.ORDER, InteractionType.CLICK).astype(np.int8)
    return Marketplace(f"synthetic marketplace ({users:,} users, {services:,} services, {journeys:,} journeys)",
                       np.array(users_, np.int64), np.array(items, np.int64), types, np.array(times), data.dump)


def first_cut(market: Marketplace, cut: float) -> np.ndarray:
    """(n,) bool: each person's first `cut` share of their interactions, in time order."""
    before = np.zeros(market.users.size, dtype=bool)
    for user in np.unique(market.users):
        mine = np.flatnonzero(market.users == user)  # already in time order
        before[mine[:int(round(cut * mine.size))]] = True
    return before


def ncf_engine(market: Marketplace, before: np.ndarray) -> NCF:
    """NCF trained as the service trains it: orders before the cut as takings, clicks for the click side."""
    orders = before & (market.types == InteractionType.ORDER)
    data = interaction_data(market.dump, market.users[orders], market.items[orders], market.times[orders])
    stored = interaction_arrays({"user_id": int(u), "service_id": int(s), "type": InteractionType(t).name.lower(),
                                 "timestamp": float(moment)} for u, s, t, moment in
                                zip(market.users[before], market.items[before], market.types[before],
                                    market.times[before]))
    result = train_ncf(data, objectives=objective_positives(data, stored))
    click = result.metrics["objectives"]["click"]
    print(f"NCF trained in {result.seconds:.0f} s; click side: " + (
        f"{click['positives']:,} positives, on each user's latest: HR@10 full "
        + ", ".join(f"{name} {click[name]['hr@10_full']:.3f}" for name in ("NCF", "NCF order model", "Popularity"))
        if click["trained"] else f"not trained ({click['reason']})"))
    return NCF(result.model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("movielens", "synthetic"), default="movielens")
    parser.add_argument("--movielens-dir", type=Path, default=DEFAULT_MOVIELENS_DIR)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--journeys", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cut", type=float, default=0.8, help="share of each person's interactions to fit on")
    parser.add_argument("--no-ncf", action="store_true", help="Popularity and Session only")
    args = parser.parse_args()
    market = (movielens(args.movielens_dir) if args.data == "movielens"
              else synthetic(args.users, args.services, args.journeys, args.seed))
    users, items, types, times = market.users, market.items, market.types, market.times
    before = first_cut(market, args.cut)
    categories = ServiceCategories.from_mapping({s["id"]: s.get("categories") or [] for s in market.dump["services"]})
    engines = {
        "Popularity": Popularity(fit_popularity(items[before], types[before], times[before], categories)),
        "Session": Session(fit_session(users[before], items[before], types[before], times[before])),
    }
    if not args.no_ncf:
        began = time.perf_counter()
        engines["NCF"] = ncf_engine(market, before)
        print(f"(NCF: {time.perf_counter() - began:.0f} s with its data)")
    catalogue = np.array(sorted(s["id"] for s in market.dump["services"] if s["status"] in ("published",
                                                                                             "unverified")))
    asked = 0
    hits = {(engine, objective, target): 0 for engine in engines for objective in OBJECTIVES for target in OBJECTIVES}
    for user in np.unique(users):
        mine = users == user
        past, future = mine & before, mine & ~before
        fresh = future & ~np.isin(items, items[past])  # about services they had not touched before the cut
        first = {target: items[fresh & (types == code)][:1] for target, code in
                 (("click", InteractionType.CLICK), ("order", InteractionType.ORDER))}
        if not past.any() or not all(found.size for found in first.values()):
            continue
        asked += 1
        history = Interactions(items[past][-HISTORY:], types[past][-HISTORY:], times[past][-HISTORY:])
        taken = items[past & (types == InteractionType.ORDER)]
        candidates = np.setdiff1d(catalogue, items[past])
        for name, engine in engines.items():
            for objective in OBJECTIVES:
                context = RecommendationContext(candidates=candidates, k=K, now=float(times[past][-1]),
                                                user_id=int(user), history=history, taken=taken,
                                                objective=objective)
                shown = engine.recommend(context).ids
                for target, wanted in first.items():
                    hits[(name, objective, target)] += bool(np.isin(wanted, shown).any())
    print(f"{market.name}: each person's first {args.cut:.0%} of interactions to fit on ({int(before.sum()):,}), "
          f"{asked} people asked (each with a click and an order after their cut)")
    print("| engine | objective | order HR@10 (95%) | click HR@10 (95%) |")
    print("|---|---|---|---|")
    for name in engines:
        for objective in OBJECTIVES:
            cells = []
            for target in ("order", "click"):
                found = hits[(name, objective, target)]
                low, high = wilson_interval(found, asked)
                cells.append(f"{found / asked:.3f} ({low:.3f} to {high:.3f})")
            print(f"| {name} | {objective} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
