"""Strong simple baselines, scored through the same evaluation as NCF.

Each has `score_users(user_rows) -> (b, s)` scores of every service.
- Popularity: how many training users took each service, the same for everyone.
- EASE (Steck, 2019): an item-item linear model with a closed-form solution,
  B = I - P / diag(P) with P = (XᵀX + λI)⁻¹, so that diag(B) = 0; a user's
  scores are their training row times B. Memory and time grow with s² and s³:
  fine for thousands of services.
- Random: seeded uniform scores, the floor any model must clear.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


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
