"""Which NCF version and which engine should serve, each measured on the same data.

The gate. A candidate is compared with the active NCF version on the candidate's own
leave-last-out split. An active version trained on the same snapshot was measured on
that split when it was trained, so its recorded metric is compared. One trained on
another snapshot (an older dump, another marketplace) is scored here as it would
serve: users and services by their marketplace ids, a user it has no row for by their
declared features and takings, a service it does not know at 0 (below every service
it knows, which score in (0, 1)). Held-out pairs it may have learnt from (its own
snapshot's accessed services) are left out of both measurements, so neither side is
scored on what it saw. When its snapshot's dump is gone, or no pair is left to measure
on, it cannot be measured fairly, and the candidate (trained on the newer data) wins.

The measured default. NCF, Popularity and Session are scored on the same split; NCF
answers by default only where it beats both.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from app.engines import NCF, NCFModel, RecommendationContext
from app.engines.score_cache import ScoreCache
from app.training.dataset import InteractionData
from app.training.evaluation import ScoreUsers, Split, ranking_metrics, with_test_pairs

GATE_METRIC = "hr@10_sampled"
# What picks the default engine: the held-out service ranked against the whole catalogue, as
# serving ranks it. Against 100 sampled negatives NCF looked best on MovieLens 100K (0.708)
# while Session answered more of the replayed ratings online (benchmarks/replay.py).
DEFAULT_METRIC = "hr@10_full"
DECLARED_FEATURES = ("categories", "scientific_domains")  # what serving reads of a dump's user
SERVABLE_BASELINES = ("Popularity", "Session")  # measured beside NCF, and servable by default


def declared_features(dump: Mapping) -> dict[int, dict[str, tuple[int, ...]]]:
    """Each dump user's declared features, as serving passes them to an engine."""
    return {int(user["id"]): {name: tuple(user[name]) for name in DECLARED_FEATURES if user.get(name)}
            for user in dump["users"]}


def score_users_as_served(model: NCFModel, data: InteractionData, split: Split,
                          features: Mapping[int, Mapping[str, tuple[int, ...]]]) -> ScoreUsers:
    """`score_users` over `data`'s rows for an NCF model trained on other data, through the serving
    engine: each user by their id, declared features and training takings (oldest first)."""
    engine = NCF(model, ScoreCache(0))  # each user is scored once: nothing worth keeping
    in_time = np.lexsort((np.arange(split.train_users.size), split.train_order, split.train_users))
    users, items = split.train_users[in_time], split.train_items[in_time]
    indptr = np.zeros(data.n_users + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=data.n_users), out=indptr[1:])
    service_ids = data.services.ids

    def score_users(user_rows: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(user_rows), service_ids.size))
        for i, row in enumerate(np.asarray(user_rows, np.int64)):
            user_id = int(data.users.ids[row])
            context = RecommendationContext(candidates=service_ids, k=0, now=0.0, user_id=user_id,
                                            taken=service_ids[items[indptr[row]:indptr[row + 1]]],
                                            user_features=features.get(user_id, {}))
            scores[i] = engine.score(context, service_ids)
        return scores

    return score_users


def pairs_not_learnt(split: Split, data: InteractionData, other_dump: Mapping) -> np.ndarray:
    """(t,) bool: which held-out (user, service) pairs are absent from `other_dump`'s accessed
    services, so that a model trained on that dump cannot have learnt them."""
    held_out = dict(zip(data.users.ids[split.test_users].tolist(), data.services.ids[split.test_items].tolist()))
    learnt = {int(user["id"]) for user in other_dump["users"]
              if held_out.get(int(user["id"])) in (user.get("accessed_services") or ())}
    return np.array([user_id not in learnt for user_id in data.users.ids[split.test_users].tolist()], bool)


def compare_on_candidate_split(active: NCFModel, other_dump: Mapping | None, data: InteractionData, split: Split,
                               candidate: ScoreUsers, features: Mapping, k: int, seed: int) -> dict:
    """The active model (trained on `other_dump`) and the candidate's evaluated scorer, on the
    candidate's held-out pairs the active one cannot have learnt. The figures are None when
    the active model cannot be measured fairly; "reason" then says why."""
    if other_dump is None:
        return {"candidate": None, "active": None, "test_users": 0,
                "reason": "the active version's snapshot is gone: what it learnt from is unknown"}
    fair = with_test_pairs(split, pairs_not_learnt(split, data, other_dump))
    left_out = int(split.test_users.size - fair.test_users.size)
    if fair.test_users.size == 0:
        return {"candidate": None, "active": None, "test_users": 0, "left_out": left_out,
                "reason": "every held-out pair is in the active version's training data"}

    def measure(scores: ScoreUsers) -> float:
        return ranking_metrics(scores, fair, data.recommendable, k, seed=seed)[GATE_METRIC]

    return {"candidate": measure(candidate),
            "active": measure(score_users_as_served(active, data, split, features)),
            "test_users": int(fair.test_users.size), "left_out": left_out,
            "reason": "both scored on the candidate's held-out pairs the active version did not train on"}


def best_engine(scores: Mapping[str, float | None], metric: str = DEFAULT_METRIC) -> dict:
    """The engine that should answer by default, from figures measured on one split: NCF only
    when it beats both Popularity and Session; else Session when it beats Popularity (which
    answers everyone, where Session needs a visitor's events); else Popularity."""
    def shown(name: str) -> str:
        value = scores.get(name)
        return f"{name} {value:.3f}" if value is not None else f"{name} (not measured)"

    baselines = {name: scores[name] for name in SERVABLE_BASELINES if scores.get(name) is not None}
    ncf = scores.get("NCF")
    others = " and ".join(shown(name) for name in SERVABLE_BASELINES)
    if ncf is not None and all(ncf > value for value in baselines.values()):
        engine, why = "NCF", f"{shown('NCF')} beats {others} on {metric}, on the same split"
    else:
        session_wins = baselines.get("Session", -1.0) > baselines.get("Popularity", np.inf)
        engine = "Session" if session_wins else "Popularity"
        if ncf is None:
            why = f"NCF is not measured; {others} on {metric}"
        else:
            why = f"{shown('NCF')} does not beat {others} on {metric}, on the same split"
    return {"engine": engine, "reason": why, "metric": metric,
            "scores": {name: scores.get(name) for name in ("NCF", *SERVABLE_BASELINES)}}
