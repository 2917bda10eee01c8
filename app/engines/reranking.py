"""A panel re-ranked for variety and rotation: pure, a pool in, the chosen places out.

A request may ask for `diversity`, `max_per_provider` or `rotation`. The answering engine
then returns a pool (its best candidates, best first, a few times the panel's size) and
the panel is filled one slot at a time with the candidate of the highest

    ((1 - diversity) · relevance + diversity · novelty) · freshness

(maximal marginal relevance, Carbonell and Goldstein 1998), where
- relevance = 1 - place / pool size: the engine's order, scale-free, so that a diversity
  of 0.3 trades as much for every engine whatever its scores look like;
- novelty = 1 - the highest Jaccard similarity of the candidate's facets (its categories and
  its providers) to those of a service already in the panel; 1 in the first slot;
- freshness = (1 - rotation) ** (times shown to this person without a click, beyond the
  first FREE_SHOWS): a service shown again and again and never clicked moves down.

Ties go to the engine's order, so with diversity and rotation 0 the panel is the engine's.
`max_per_provider` is a cap, not a weight: once a provider has that many services in the
panel, its other services are passed over, and a pool that cannot fill the panel within
the cap gives a shorter one.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FREE_SHOWS = 1  # a first showing is free: the visitor may never have scrolled to the panel


@dataclass(frozen=True)
class Shaping:
    """What a request asks of its panel beyond the engine's order (the defaults ask nothing)."""

    diversity: float = 0.0  # 0: the engine's order; 1: variety first, the engine's order breaking ties
    rotation: float = 0.0  # 0: shows do not matter; 1: a service shown without a click goes last
    max_per_provider: int | None = None

    def __post_init__(self):
        if not 0.0 <= self.diversity <= 1.0 or not 0.0 <= self.rotation <= 1.0:
            raise ValueError("diversity and rotation must be within [0, 1]")
        if self.max_per_provider is not None and self.max_per_provider < 1:
            raise ValueError("max_per_provider must be at least 1")

    @property
    def active(self) -> bool:
        return self.diversity > 0 or self.rotation > 0 or self.max_per_provider is not None


def pool_size(k: int) -> int:
    """How many candidates to ask the engine for, to fill a panel of `k`: enough to find
    variety and fresh services in, few enough that re-ranking costs little."""
    return max(4 * k, 30)


def freshness(unclicked_shows: np.ndarray, rotation: float) -> np.ndarray:
    """(n,) multipliers in [0, 1] from (n,) counts of showings without a click."""
    beyond_free = np.maximum(np.asarray(unclicked_shows, dtype=np.float64) - FREE_SHOWS, 0.0)
    return (1.0 - rotation) ** beyond_free  # 0 ** 0 is 1: within the free showings nothing changes


def rerank(k: int, categories: Sequence[Sequence[int]], providers: Sequence[Sequence[int]], shaping: Shaping,
           unclicked_shows: np.ndarray | None = None) -> np.ndarray:
    """Places in the pool (int64, at most `k`) of the panel's services, in the panel's order.

    `categories[i]` and `providers[i]` are the facets of the pool's i-th candidate (the pool
    best first); `unclicked_shows` (n,) how often each was shown to this person without a click."""
    n = len(categories)
    if len(providers) != n or (unclicked_shows is not None and len(unclicked_shows) != n):
        raise ValueError("one entry per candidate of the pool")
    facets = _facet_matrix(categories, providers)  # (n, f)
    sizes = facets.sum(axis=1)  # (n,)
    relevance = 1.0 - np.arange(n) / max(n, 1)
    fresh = freshness(unclicked_shows, shaping.rotation) if unclicked_shows is not None else np.ones(n)
    provider_sets = [frozenset(p) for p in providers]
    in_panel: dict[int, int] = {}  # provider → services of it chosen
    closest = np.zeros(n)  # highest similarity to a chosen service
    open_ = np.ones(n, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < k and open_.any():
        objective = ((1.0 - shaping.diversity) * relevance + shaping.diversity * (1.0 - closest)) * fresh
        best = int(np.argmax(np.where(open_, objective, -np.inf)))  # the first of equals: the engine's order
        chosen.append(best)
        open_[best] = False
        shared = facets @ facets[best]  # (n,) facets in common with the chosen one
        union = sizes + sizes[best] - shared
        closest = np.maximum(closest, np.divide(shared, union, out=np.zeros(n), where=union > 0))
        if shaping.max_per_provider is not None and provider_sets[best]:
            for provider in provider_sets[best]:
                in_panel[provider] = in_panel.get(provider, 0) + 1
            full = {p for p in provider_sets[best] if in_panel[p] >= shaping.max_per_provider}
            if full:
                open_ &= np.array([not (full & p) for p in provider_sets], dtype=bool)
    return np.array(chosen, dtype=np.int64)


def _facet_matrix(categories: Sequence[Sequence[int]], providers: Sequence[Sequence[int]]) -> np.ndarray:
    """(n, f) 0/1: candidate i has facet j, over the facets that occur in the pool (a category
    and a provider with the same id are different facets)."""
    tagged = [{("c", int(c)) for c in cats} | {("p", int(p)) for p in provs}
              for cats, provs in zip(categories, providers)]
    columns = {facet: j for j, facet in enumerate(sorted(set().union(*tagged)))} if tagged else {}
    matrix = np.zeros((len(tagged), len(columns)), dtype=np.float64)
    for i, facets in enumerate(tagged):
        matrix[i, [columns[f] for f in facets]] = 1.0
    return matrix
