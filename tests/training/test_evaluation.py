"""Evaluation functions on cases small enough to compute by hand."""
from __future__ import annotations

import numpy as np
import pytest

from app.training.evaluation import (
    catalogue_coverage,
    hit_rate_at_k,
    leave_last_out,
    mean_reciprocal_rank,
    ndcg_at_k,
    ranking_metrics,
    ranks_of_positives,
    recall_at_k,
)


def test_leave_last_out_holds_out_each_users_latest():
    users = np.array([0, 0, 0, 1, 1, 2])
    items = np.array([10, 11, 12, 20, 21, 30])
    order = np.array([3.0, 1.0, 2.0, 5.0, 5.0, 0.0])  # user 1's two are simultaneous: the later row is last
    split = leave_last_out(users, items, order)
    assert dict(zip(split.test_users.tolist(), split.test_items.tolist())) == {0: 10, 1: 21}
    assert sorted(zip(split.train_users.tolist(), split.train_items.tolist())) == [(0, 11), (0, 12), (1, 20), (2, 30)]
    assert sorted(split.train_order.tolist()) == [0.0, 1.0, 2.0, 5.0]


def test_ranks_count_higher_negatives_and_half_the_ties():
    ranks = ranks_of_positives(np.array([0.5, 0.9, 0.2]),
                               np.array([[0.7, 0.5, 0.1], [0.1, 0.2, 0.3], [0.9, 0.9, 0.9]]),
                               np.array([[True, True, True], [True, True, True], [True, False, False]]))
    np.testing.assert_allclose(ranks, [1.5, 0.0, 1.0])


def test_a_constant_scorer_is_not_rewarded():
    ranks = ranks_of_positives(np.zeros(4), np.zeros((4, 100)))
    assert hit_rate_at_k(ranks, 10) == 0.0


def test_metrics_of_known_ranks():
    ranks = np.array([0.0, 3.0, 12.0])
    assert hit_rate_at_k(ranks, 10) == pytest.approx(2 / 3)
    assert ndcg_at_k(ranks, 10) == pytest.approx((1 + 1 / np.log2(5)) / 3)
    assert ndcg_at_k(ranks, 3) == pytest.approx(1 / 3)
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 4 + 1 / 13) / 3)


def test_recall_is_the_mean_share_of_each_users_relevant_items_found():
    top = np.array([[5, 6], [7, 8]])
    assert recall_at_k(top, np.array([0, 0, 1]), np.array([5, 9, 1])) == pytest.approx((1 / 2 + 0) / 2)


def test_coverage_is_the_share_of_the_catalogue_recommended():
    assert catalogue_coverage(np.array([[1, 2], [2, 3]]), 10) == pytest.approx(0.3)


def test_ranking_metrics_on_a_hand_made_scorer():
    # Five services; user 0 trained on 0 and holds out 2, user 1 trained on 1 and holds out 3.
    scores = np.array([[9.0, 0.0, 5.0, 6.0, 1.0], [1.0, 9.0, 2.0, 3.0, 4.0]])
    split = leave_last_out(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 3]), np.array([0, 1, 0, 1]))
    metrics = ranking_metrics(lambda users: scores[users], split, np.ones(5, bool), k=2)
    # Each held-out item has one better item among those the user has not trained on: rank 1 of 4.
    for mode in ("sampled", "full"):
        assert metrics[f"hr@2_{mode}"] == 1.0
        assert metrics[f"ndcg@2_{mode}"] == pytest.approx(1 / np.log2(3))
        assert metrics[f"mrr_{mode}"] == pytest.approx(0.5)
        assert metrics[f"recall@2_{mode}"] == 1.0
    assert metrics["coverage@2_full"] == pytest.approx(3 / 5)  # user 0 gets 3 and 2, user 1 gets 4 and 3
    one = ranking_metrics(lambda users: scores[users], split, np.ones(5, bool), k=1)
    assert one["hr@1_full"] == 0.0 and one["hr@1_sampled"] == 0.0


def test_unrecommendable_services_are_neither_negatives_nor_recommended():
    scores = np.array([[0.0, 1.0, 0.5, 9.0]])
    split = leave_last_out(np.array([0, 0]), np.array([0, 2]), np.array([0, 1]))
    recommendable = np.array([True, True, True, False])  # service 3 would outrank the held-out one
    metrics = ranking_metrics(lambda users: scores[users], split, recommendable, k=1)
    assert metrics["mrr_full"] == pytest.approx(0.5) and metrics["mrr_sampled"] == pytest.approx(0.5)
