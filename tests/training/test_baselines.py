"""Baselines: counts for Popularity, the closed form for EASE, fixed draws for Random."""
from __future__ import annotations

import numpy as np

from app.training.baselines import (
    EASEConfig,
    RandomBaseline,
    fit_ease,
    fit_popularity_baseline,
)

# Four users, four services; user 3 took service 0 twice (it counts once).
USERS = np.array([0, 0, 1, 1, 1, 2, 3, 3])
ITEMS = np.array([0, 1, 0, 1, 2, 2, 0, 0])


def test_popularity_counts_each_services_users():
    model = fit_popularity_baseline(USERS, ITEMS, 4, 4)
    np.testing.assert_array_equal(model.score_users(np.array([2, 0])), [[3, 2, 2, 0], [3, 2, 2, 0]])


def test_ease_is_the_zero_diagonal_ridge_solution():
    model = fit_ease(USERS, ITEMS, 4, 4, EASEConfig(l2=0.5))
    x = np.zeros((4, 4))
    x[USERS, ITEMS] = 1.0
    assert np.allclose(np.diag(model.weights), 0.0)
    # Each column j is the ridge regression of x[:, j] on the other columns (Steck's constraint).
    for j in range(4):
        others = [i for i in range(4) if i != j]
        a = x[:, others]
        expected = np.linalg.solve(a.T @ a + 0.5 * np.eye(3), a.T @ x[:, j])
        np.testing.assert_allclose(model.weights[others, j], expected, atol=1e-10)
    np.testing.assert_allclose(model.score_users(np.array([0])), x[[0]] @ model.weights)


def test_random_scores_are_fixed_by_seed_and_user():
    model = RandomBaseline(5, seed=3)
    first = model.score_users(np.array([1, 2]))
    np.testing.assert_array_equal(first, model.score_users(np.array([1, 2])))
    assert not np.array_equal(first[0], first[1])
