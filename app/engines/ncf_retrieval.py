"""NCF retrieval: the services worth scoring for a user, found without scoring the catalogue.

An NCF logit (app/engines/ncf.py) is a GMF term, an inner product, plus an MLP term, which
is not. Over users, though, the matrix of logits is close to low rank: a per-service prior
plus a few dozen directions. `fit_retrieval` measures it over a sample of users, each taken
twice (once with their trained row, once as a visitor with only their content, as visitors
are scored), removes the prior, and keeps the top `rank` directions (an SVD through the
sample's Gram matrix) as `service`.

A user's place along those directions is measured, not predicted: NCF scores a fixed set of
`anchors` services for the user (1,000 of a 100k catalogue), and least squares on the
directions at those rows gives the user's coordinates. The query [coordinates, 1] against
the service keys [service, prior] then ranks the catalogue by the approximation; an
inner-product index over the keys (app/engines/ann.py) finds its best few hundred, and NCF
scores only those, exactly.

Why measured: a ridge regression from the user's first MLP layer to the coordinates, the
first design, found 46% of exact NCF's top 100 of a trained 100k-service model (pool 500)
while the directions themselves, given each user's true coordinates, held 95% in a one-off
check. Measured coordinates find 96.7% at a pool of 1,000 (docs/benchmarks.md#retrieval).

Arrays, saved with the model (`NCFModel.retrieval_*`):
- retrieval_service (s, rank) float32;
- retrieval_service_prior (s,) float32;
- retrieval_anchors (a,) int64 rows of the anchor services.
Versions saved with the first design's arrays (`retrieval_user_map`) score every candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RETRIEVAL_ARRAYS = ("retrieval_service", "retrieval_service_prior", "retrieval_anchors")
RETIRED_ARRAYS = ("retrieval_user_map",)  # the first design's, ignored when a version is loaded


@dataclass(frozen=True)
class RetrievalFit:
    """How the approximation is fitted. On a trained NCF of 100k services these defaults found
    96.7% of exact NCF's top 100 for users and 99.5% for visitors with a pool of 1,000
    (benchmarks/retrieval.py)."""

    rank: int = 64  # directions beyond the prior
    sample_users: int = 512  # users measured (each twice: trained row, and as a visitor)
    anchors: int = 1000  # services NCF scores per request to place the user among the directions
    seed: int = 0
    users_per_batch: int = 16  # the MLP's hidden layers are users × services × width


def fit_retrieval(scorer, fit: RetrievalFit | None = None) -> dict[str, np.ndarray]:
    """The retrieval arrays of the model `scorer` (an NCFScorer) scores with; none (an empty
    dict) for a model without users or services to measure."""
    fit = fit or RetrievalFit()
    model = scorer.model
    n_users, n_services = model.user_ids.size, model.service_ids.size
    if n_users == 0 or n_services == 0:
        return {}
    rng = np.random.default_rng(fit.seed)
    rows = np.sort(rng.choice(n_users, size=min(n_users, fit.sample_users), replace=False))
    users = [scorer.user_vector(rows), scorer.user_vector(np.full(rows.size, -1), model.user_content[rows])]
    logits = np.concatenate([scorer.logits(gmf[start:start + fit.users_per_batch],
                                           first[start:start + fit.users_per_batch])
                             for gmf, first in users
                             for start in range(0, rows.size, fit.users_per_batch)])  # (n, s) float32
    prior = logits.mean(axis=0)
    logits -= prior
    directions = _top_directions(logits, min(fit.rank, logits.shape[0] - 1, n_services))
    anchors = np.sort(rng.choice(n_services, size=min(n_services, fit.anchors), replace=False))
    return {"retrieval_service": directions.astype(np.float32),
            "retrieval_service_prior": prior.astype(np.float32),
            "retrieval_anchors": anchors.astype(np.int64)}


def _top_directions(centred: np.ndarray, rank: int) -> np.ndarray:
    """(s, r ≤ rank) orthonormal service directions of the best rank-`rank` approximation of
    (n, s) `centred`, through its (n, n) Gram matrix: n is a thousand, s may be a hundred
    thousand (float32 products: the directions need no more)."""
    if rank <= 0:
        return np.zeros((centred.shape[1], 0))
    gram = (centred @ centred.T).astype(np.float64)  # (n, n)
    values, vectors = np.linalg.eigh(gram)  # ascending
    top = np.argsort(values)[::-1][:rank]
    singular = np.sqrt(np.maximum(values[top], 0.0))
    keep = singular > singular.max(initial=0.0) * 1e-6  # directions the sample really has
    vectors, singular = vectors[:, top[keep]], singular[keep]
    return (centred.T @ vectors.astype(np.float32)) / singular.astype(np.float32)  # (s, r)


def service_keys(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(s, rank + 1) float32: what query vectors are matched against."""
    return np.ascontiguousarray(np.concatenate(
        [arrays["retrieval_service"], arrays["retrieval_service_prior"][:, None]], axis=1), dtype=np.float32)


class Placement:
    """From a user's logits at the anchor services to their query vector: least squares on the
    directions at the anchors (their pseudo-inverse, computed once)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.anchors = arrays["retrieval_anchors"]
        at_anchors = arrays["retrieval_service"][self.anchors].astype(np.float64)  # (a, r)
        self.solve = np.linalg.pinv(at_anchors).astype(np.float32)  # (r, a)
        self.prior = arrays["retrieval_service_prior"][self.anchors]  # (a,)

    def query(self, anchor_logits: np.ndarray) -> np.ndarray:
        """(a,) the user's logits at the anchors → (rank + 1,) float32 query."""
        coordinates = self.solve @ (np.asarray(anchor_logits, np.float32) - self.prior)
        return np.append(coordinates, np.float32(1.0)).astype(np.float32)


@dataclass(frozen=True)
class RetrievalSettings:
    """When and how the NCF engine retrieves before it scores (NCF_RETRIEVAL_* settings)."""

    min_candidates: int = 20_000  # fewer eligible services than this: NCF scores every one
    pool: int = 1000  # services NCF scores exactly; at least 4 × the services asked for
    index: str = "flat"  # app/engines/ann.py: "flat" (every key) or "hnsw" (faiss)


class Retriever:
    """An NCF scorer's catalogue as an inner-product index of its retrieval keys.

    A user asks for panel after panel with the same query vector, and their eligible services
    differ little between panels (the same exclusions, most of the catalogue). So the search
    runs once over every row for twice the pool (KEPT_POOLS), that list is kept in `cache`,
    and each request takes the allowed rows of it in order: when at least a pool of them is
    allowed they are exactly the best allowed rows, since every row left out of the list
    ranks below all of it. Otherwise, and for masks refusing half the catalogue or more
    (a filtered page), the allowed rows are searched."""

    KEPT_POOLS = 2

    def __init__(self, scorer, settings: RetrievalSettings, cache=None):
        from app.engines.ann import InnerProductIndex

        arrays = {name: getattr(scorer.model, name) for name in RETRIEVAL_ARRAYS}
        self.settings = settings
        self.scorer = scorer
        self.placement = Placement(arrays)
        self.index = InnerProductIndex(service_keys(arrays), settings.index)
        self.cache = cache if cache is not None and cache.budget_bytes > 0 else None  # a ScoreCache
        self._identity = object()  # this retriever's part of the cache

    def rows(self, user_gmf: np.ndarray, user_first: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
        """The service rows NCF should score for this user, among the `allowed` ones, to find its best k."""
        pool = max(self.settings.pool, 4 * k)
        if self.cache is None or 2 * np.count_nonzero(allowed) < allowed.size:
            return self.index.search(self._query(user_gmf, user_first), pool, allowed)
        # The query follows from the user's vectors alone: a kept list needs no anchors scored.
        key = (self._identity, pool, user_gmf.tobytes(), user_first.tobytes())
        best, query = self.cache.get(key), None
        if best is None:
            query = self._query(user_gmf, user_first)
            best = self.index.search(query, self.KEPT_POOLS * pool)
            self.cache.put(key, best)
        chosen = best[allowed[best]]
        if chosen.size >= pool or best.size == self.index.size:
            return chosen[:pool]
        return self.index.search(self._query(user_gmf, user_first) if query is None else query, pool, allowed)

    def _query(self, user_gmf: np.ndarray, user_first: np.ndarray) -> np.ndarray:
        """The user's query vector: NCF's logits at the anchors, placed among the directions."""
        anchor_logits = self.scorer.logits(user_gmf[None], user_first[None], self.placement.anchors)[0]
        return self.placement.query(anchor_logits)


def has_retrieval(model) -> bool:
    return all(getattr(model, name) is not None for name in RETRIEVAL_ARRAYS)
