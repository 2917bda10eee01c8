"""Policies the simulator can ask for panels: uniform random, epsilon-greedy popularity (a logging
policy with known propensities) and any engine. Propensities are per item: the probability that the
policy puts that item in the panel, what item-level off-policy evaluation divides by."""
from __future__ import annotations

import numpy as np

from app.engines import Engine, Interactions, RecommendationContext
from app.rl.simulator import PanelRequest, Policy


def uniform_policy(request: PanelRequest) -> tuple[np.ndarray, np.ndarray]:
    """K distinct candidates uniformly at random."""
    rng = np.random.default_rng(request.seed)
    k = min(request.k, request.candidates.size)
    shown = rng.choice(request.candidates, k, replace=False)
    return shown, np.full(k, k / request.candidates.size)


def epsilon_greedy_policy(popularity: dict[int, float], epsilon: float) -> Policy:
    """With probability `epsilon` a uniform random panel, else the K most popular candidates."""

    def policy(request: PanelRequest) -> tuple[np.ndarray, np.ndarray]:
        top = greedy_panel(popularity, request)
        if np.random.default_rng(request.seed).random() < epsilon:
            shown, _ = uniform_policy(request)
        else:
            shown = top
        return shown, inclusion_probability(shown, top, epsilon, request)

    return policy


def greedy_panel(popularity: dict[int, float], request: PanelRequest) -> np.ndarray:
    """The K most popular candidates (ties: lower id first)."""
    scores = np.array([popularity.get(int(s), 0.0) for s in request.candidates])
    return request.candidates[np.lexsort((request.candidates, -scores))[:request.k]]


def inclusion_probability(items: np.ndarray, top: np.ndarray, epsilon: float, request: PanelRequest) -> np.ndarray:
    """(n,) chance that epsilon-greedy shows each item: (1 − ε)·[item in top K] + ε·K / candidates."""
    k = min(request.k, request.candidates.size)
    return (1.0 - epsilon) * np.isin(items, top) + epsilon * k / request.candidates.size


def engine_policy(engine: Engine) -> Policy:
    """An engine as a simulator policy; propensities are the engine's own (1 where it is certain)."""

    def policy(request: PanelRequest) -> tuple[np.ndarray, np.ndarray]:
        history = Interactions(np.array(request.history, np.int64), np.zeros(len(request.history), np.int8),
                               np.arange(len(request.history), dtype=np.float64))
        context = RecommendationContext(candidates=request.candidates, k=request.k, now=0.0, user_id=request.user_id,
                                        history=history, taken=history.service_ids,
                                        user_features=request.user_features, seed=request.seed)
        answer = engine.recommend(context)
        certain = answer.probabilities is None
        return answer.ids, np.ones(answer.ids.size) if certain else answer.probabilities

    return policy
