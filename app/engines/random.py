"""Random recommendations: a baseline, and a way to let new services be seen.

Each id's score is a hash of the id and a salt, so `score()` gives an id the
same value whichever other ids are asked about, and a request with a seed is
answered the same way every time.
"""
from __future__ import annotations

import numpy as np

from app.engines.base import Engine, Evidence, EvidenceKind, RecommendationContext

_MASK64 = (1 << 64) - 1


def _mix64(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64's): nearby inputs give unrelated outputs. (n,) uint64 → (n,) uint64."""
    with np.errstate(over="ignore"):
        values = values + np.uint64(0x9E3779B97F4A7C15)
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return values ^ (values >> np.uint64(31))


def _salt(seed: int | None) -> np.uint64:
    if seed is None:
        return np.random.default_rng().integers(0, 1 << 64, dtype=np.uint64)
    return _mix64(np.array([int(seed) & _MASK64], dtype=np.uint64))[0]


def uniform_scores(service_ids: np.ndarray, seed: int | None) -> np.ndarray:
    """(n,) int64 ids → (n,) float64 in (0, 1], a fixed function of (id, seed); fresh each call without a seed."""
    hashed = _mix64(service_ids.astype(np.uint64) ^ _salt(seed))
    return ((hashed >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53


class Random(Engine):
    """k candidates drawn uniformly at random."""

    name = "Random"
    deterministic = False

    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        return uniform_scores(service_ids, context.seed)

    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> tuple[Evidence, ...]:
        return (Evidence(EvidenceKind.RANDOM),) * ids.size

    def _show_probabilities(self, context: RecommendationContext, ids: np.ndarray) -> np.ndarray | None:
        if self.ranking or ids.size == 0:
            return None  # a ranking shows every candidate
        # Every k-subset of the candidates is equally likely, so each is shown with chance k / c.
        return np.full(ids.size, ids.size / context.candidates.size)


class RandomRanking(Random):
    """Every candidate, in random order."""

    name = "RandomRanking"
    ranking = True
