"""Strong simple baselines, scored through the same evaluation as NCF.

Each has `score_users(user_rows) -> (b, s)` scores of every service.
- Popularity: how many training users took each service, the same for everyone.
- EASE (Steck, 2019): an item-item linear model with a closed-form solution,
  B = I - P / diag(P) with P = (XᵀX + λI)⁻¹, so that diag(B) = 0; a user's
  scores are their training row times B. Memory and time grow with s² and s³:
  fine for thousands of services.
- Session: the served co-visitation engine, fitted on the training interactions
  (a user's takings in order, as the served model sees a dump's accessed
  services) and asked, for each user, with their latest training takings.
- Random: seeded uniform scores, the floor any model must clear.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from app.engines import InteractionType, RecommendationContext, Session, SessionParams, fit_session
from app.engines.interactions import Interactions

# The served Session model spaces a dump's takings an hour apart (they carry an order, no time).
TAKING_SPACING_SECONDS = 3600.0


def interaction_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """(u, s) float64 CSR with a 1 where a user took a service (repeats count once)."""
    matrix = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(n_users, n_items))
    matrix.data[:] = 1.0
    return matrix


@dataclass(frozen=True, eq=False)
class PopularityBaseline:
    """The same scores for every user: each service's number of training users."""

    counts: np.ndarray  # (s,) float64

    def score_users(self, user_rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(user_rows), self.counts.size))


def fit_popularity_baseline(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> PopularityBaseline:
    """Count each service's training users."""
    return PopularityBaseline(np.asarray(interaction_matrix(users, items, n_users, n_items).sum(axis=0)).ravel())


@dataclass(frozen=True)
class EASEConfig:
    """EASE's one hyperparameter."""

    l2: float = 500.0  # λ: larger shrinks the item-item weights towards 0


@dataclass(frozen=True, eq=False)
class EASE:
    """A fitted EASE model and the training rows it scores from."""

    config: EASEConfig
    train: sp.csr_matrix  # (u, s)
    weights: np.ndarray  # (s, s) float64 item-to-item, zero diagonal

    def score_users(self, user_rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.train[user_rows] @ self.weights)  # (b, s)


def fit_ease(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
             config: EASEConfig = EASEConfig()) -> EASE:
    """The closed-form EASE solution for the training interactions."""
    train = interaction_matrix(users, items, n_users, n_items)
    gram = (train.T @ train).toarray()  # (s, s)
    gram[np.diag_indices(n_items)] += config.l2
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)  # column j divided by P_jj
    weights[np.diag_indices(n_items)] = 0.0
    return EASE(config, train, weights)


@dataclass(frozen=True, eq=False)
class RandomBaseline:
    """Uniform scores, fixed by the seed and the user."""

    n_items: int
    seed: int = 0

    def score_users(self, user_rows: np.ndarray) -> np.ndarray:
        return np.stack([np.random.default_rng([self.seed, int(u)]).random(self.n_items) for u in user_rows])


@dataclass(frozen=True, eq=False)
class SessionBaseline:
    """The Session engine over (u, s) rows: each user is asked with their training takings, oldest first."""

    engine: Session
    service_ids: np.ndarray  # (s,) ids of the service rows, sorted
    taken_indptr: np.ndarray  # (u + 1,) user r's takings are taken_items[indptr[r]:indptr[r + 1]]
    taken_items: np.ndarray  # (n,) service rows, oldest first within a user

    def score_users(self, user_rows: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(user_rows), self.service_ids.size))
        for i, row in enumerate(np.asarray(user_rows, np.int64)):
            items = self.taken_items[self.taken_indptr[row]:self.taken_indptr[row + 1]]
            if items.size == 0:
                continue  # nothing to co-visit from: every service ties at 0
            history = Interactions(self.service_ids[items], np.full(items.size, InteractionType.ORDER, np.int8),
                                   np.arange(items.size, dtype=np.float64) * TAKING_SPACING_SECONDS)
            context = RecommendationContext(candidates=self.service_ids, k=0, now=0.0, history=history)
            scores[i] = self.engine.score(context, self.service_ids)
        return scores


def fit_session_baseline(users: np.ndarray, items: np.ndarray, order: np.ndarray, service_ids: np.ndarray,
                         n_users: int, params: SessionParams | None = None) -> SessionBaseline:
    """Co-visitation of the (n,) training takings (user rows, service rows, order within a user);
    `service_ids` (s,) sorted name the service rows."""
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    in_time = np.lexsort((np.arange(users.size), np.asarray(order), users))  # user, then order
    users, items = users[in_time], items[in_time]
    indptr = np.zeros(n_users + 1, np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    # As the served model does: every user's takings end at one moment (0), an hour apart.
    places_before_end = indptr[users + 1] - np.arange(users.size)  # 1 for a user's latest taking
    service_ids = np.asarray(service_ids, np.int64)
    model = fit_session(users, service_ids[items], np.full(users.size, InteractionType.ORDER, np.int8),
                        -places_before_end * TAKING_SPACING_SECONDS, params, reference_time=0.0)
    return SessionBaseline(Session(model), service_ids, indptr, items)
