"""The selector: K weight vectors → K distinct eligible services (score = prior + dot(weight_k, embedding),
greedy without repetition; the prior is the popularity one of a residual policy, or none). The greedy
step itself is `app.engines.rl.select_services`, shared with serving; this adds the masks training and
simulation need, by id."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from app.engines.rl import select_services


def eligible_mask(service_ids: np.ndarray, candidates: Iterable[int] | None = None, ordered: Iterable[int] = (),
                  excluded: Iterable[int] = ()) -> np.ndarray:
    """(s,) bool: in `candidates` (all when None), not already ordered, not excluded."""
    service_ids = np.asarray(service_ids, np.int64)
    mask = np.ones(service_ids.size, bool) if candidates is None else np.isin(service_ids, list(candidates))
    return mask & ~np.isin(service_ids, list(ordered)) & ~np.isin(service_ids, list(excluded))


def select_ids(weights: np.ndarray, service_ids: np.ndarray, embeddings: np.ndarray,
               candidates: Iterable[int] | None = None, ordered: Iterable[int] = (),
               excluded: Iterable[int] = (), prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(K, d) weights over (s,) ids with (s, d) embeddings (and an optional (s,) prior) → (<=K,) distinct
    eligible ids and their scores."""
    positions, scores = select_services(weights, embeddings, eligible_mask(service_ids, candidates, ordered, excluded),
                                        prior)
    return np.asarray(service_ids, np.int64)[positions], scores
