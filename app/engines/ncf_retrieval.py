"""NCF retrieval: the services worth scoring for a user, found without scoring the catalogue.

An NCF logit is head_bias + GMF term + MLP term (app/engines/ncf.py). The GMF term is an
inner product of a user vector and a service vector. The MLP term is not. Over users, though,
its matrix is close to low rank: a per-service prior plus a few directions. So it is
approximated by an inner product too:

    MLP term(u, s) ≈ prior[s] + ([first(u), 1] @ user_map) · service[s]

where first(u) is the user's part of the first MLP layer, as the scorer computes it.
`fit_retrieval` measures that matrix over a sample of users, each taken twice: once with
their trained row and once as a visitor with only their content, as visitors are scored.
It takes the top `rank` directions of the matrix with the prior removed (an SVD through the
sample's Gram matrix) as `service`. A ridge regression from first(u) to the user's
coordinates along them is `user_map`.

A request's query vector [gmf(u), [first(u), 1] @ user_map, 1] against the service keys
[GMF service factors × head weights, service, prior] ranks services by that
approximation. An approximate nearest-neighbour index over the keys (app/engines/ann.py)
finds its best few hundred, and NCF scores only those, exactly. benchmarks/retrieval.py
measures recall@100 against exact NCF on trained models.

Arrays, saved with the model (`NCFModel.retrieval_*`):
- retrieval_user_map (h1 + 1, rank);
- retrieval_service (s, rank);
- retrieval_service_prior (s,).
All are float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RETRIEVAL_ARRAYS = ("retrieval_user_map", "retrieval_service", "retrieval_service_prior")


@dataclass(frozen=True)
class RetrievalFit:
    """How the approximation is fitted; the defaults kept recall@100 ≥ 0.999 with a pool of 500
    on MovieLens latest-small (benchmarks/retrieval.py)."""

    rank: int = 16  # directions of the MLP term beyond the prior
    sample_users: int = 256  # users measured (each twice: trained row, and as a visitor)
    ridge: float = 1e-3  # of the mean diagonal of the regression's Gram matrix
    seed: int = 0
    users_per_batch: int = 8  # the MLP's hidden layers are users × services × width


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
    firsts = np.concatenate([scorer.user_vector(rows)[1],
                             scorer.user_vector(np.full(rows.size, -1), model.user_content[rows])[1]])
    terms = np.concatenate([scorer.mlp_term(firsts[start:start + fit.users_per_batch])
                            for start in range(0, len(firsts), fit.users_per_batch)])  # (n, s)
    prior = terms.mean(axis=0)
    terms -= prior
    directions, coordinates = _top_directions(terms, min(fit.rank, terms.shape[0] - 1, n_services))
    inputs = np.concatenate([firsts, np.ones((len(firsts), 1), np.float32)], axis=1)  # (n, h1 + 1)
    gram = inputs.T.astype(np.float64) @ inputs
    gram[np.diag_indices_from(gram)] += fit.ridge * max(np.trace(gram) / len(gram), 1e-12)
    user_map = np.linalg.solve(gram, inputs.T.astype(np.float64) @ coordinates)  # (h1 + 1, rank)
    return {"retrieval_user_map": user_map.astype(np.float32),
            "retrieval_service": directions.astype(np.float32),
            "retrieval_service_prior": prior.astype(np.float32)}


def _top_directions(centred: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(s, rank) orthonormal service directions and (n, rank) user coordinates of the best
    rank-`rank` approximation of (n, s) `centred`, through its (n, n) Gram matrix: n is a few
    hundred, s may be a hundred thousand."""
    if rank <= 0:
        return np.zeros((centred.shape[1], 0)), np.zeros((centred.shape[0], 0))
    gram = centred.astype(np.float64) @ centred.T.astype(np.float64)  # (n, n)
    values, vectors = np.linalg.eigh(gram)  # ascending
    top = np.argsort(values)[::-1][:rank]
    singular = np.sqrt(np.maximum(values[top], 0.0))
    keep = singular > singular.max(initial=0.0) * 1e-6  # directions the sample really has
    vectors, singular = vectors[:, top[keep]], singular[keep]
    directions = (centred.T.astype(np.float64) @ vectors) / singular  # (s, r)
    return directions, vectors * singular


def service_keys(scorer, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(s, g + rank + 1) float32: what query vectors are matched against."""
    return np.ascontiguousarray(np.concatenate(
        [scorer.service_gmf_weighted, arrays["retrieval_service"], arrays["retrieval_service_prior"][:, None]],
        axis=1), dtype=np.float32)


def query_vector(user_gmf: np.ndarray, user_first: np.ndarray, user_map: np.ndarray) -> np.ndarray:
    """(g,) and (h1,) user vectors → (g + rank + 1,) float32 query."""
    coordinates = np.append(user_first, 1.0).astype(np.float32) @ user_map
    return np.concatenate([user_gmf, coordinates, [1.0]]).astype(np.float32)


@dataclass(frozen=True)
class RetrievalSettings:
    """When and how the NCF engine retrieves before it scores (NCF_RETRIEVAL_* settings)."""

    min_candidates: int = 20_000  # fewer eligible services than this: NCF scores every one
    pool: int = 500  # services NCF scores exactly; at least 4 × the services asked for
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
        self.user_map = arrays["retrieval_user_map"]
        self.index = InnerProductIndex(service_keys(scorer, arrays), settings.index)
        self.cache = cache if cache is not None and cache.budget_bytes > 0 else None  # a ScoreCache
        self._identity = object()  # this retriever's part of the cache

    def rows(self, user_gmf: np.ndarray, user_first: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
        """The service rows NCF should score for this user, among the `allowed` ones, to find its best k."""
        pool = max(self.settings.pool, 4 * k)
        query = query_vector(user_gmf, user_first, self.user_map)
        if self.cache is None or 2 * np.count_nonzero(allowed) < allowed.size:
            return self.index.search(query, pool, allowed)
        key = (self._identity, pool, query.tobytes())
        best = self.cache.get(key)
        if best is None:
            best = self.index.search(query, self.KEPT_POOLS * pool)
            self.cache.put(key, best)
        chosen = best[allowed[best]]
        if chosen.size >= pool or best.size == self.index.size:
            return chosen[:pool]
        return self.index.search(query, pool, allowed)


def has_retrieval(model) -> bool:
    return all(getattr(model, name) is not None for name in RETRIEVAL_ARRAYS)
