"""Baselines: counts for Popularity, the closed form for EASE, co-visitation for Session, fixed
draws for Random."""
from __future__ import annotations

import numpy as np

from app.training.baselines import (
    EASEConfig,
    RandomBaseline,
    fit_ease,
    fit_popularity_baseline,
    fit_session_baseline,
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


def test_session_scores_what_was_taken_after_a_users_latest_takings():
    # Users 0 to 2 took service 0 then 1; user 3 took 2 then 3; user 4 took 0 and is asked about.
    users, items = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4]), np.array([0, 1, 0, 1, 0, 1, 2, 3, 0])
    order = np.array([0, 1, 0, 1, 1, 2, 0, 1, 0], dtype=float)
    model = fit_session_baseline(users, items, order, np.array([10, 11, 12, 13]), n_users=6)
    scores = model.score_users(np.array([4, 5]))
    assert scores.shape == (2, 4)
    assert scores[0, 1] > 0 and scores[0, 2] == scores[0, 3] == 0  # co-taken with 0, not with 2 or 3
    assert not scores[1].any()  # user 5 took nothing: every service ties
