"""Offline evaluation as free functions: a temporal split, rank metrics, and one driver.

Every model is evaluated the same way: `score_users(user_rows) -> (b, s)` scores
of every service for a batch of users. Each test user's held-out service is
ranked twice: among 100 sampled services the user never took (comparable with
the NCF paper) and among the whole recommendable catalogue minus the user's
training services. A tie counts as half a place, the mean rank under random
tie-breaking, so a constant scorer is not rewarded.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

ScoreUsers = Callable[[np.ndarray], np.ndarray]  # (b,) user rows → (b, s) float scores


@dataclass(frozen=True, eq=False)
class Split:
    """Training interactions and one held-out (user, service) per test user."""

    train_users: np.ndarray  # (n,) int64 user rows
    train_items: np.ndarray  # (n,) int64 service rows
    train_order: np.ndarray  # (n,) the training interactions' times
    test_users: np.ndarray  # (t,) int64, each once
    test_items: np.ndarray  # (t,) int64


def leave_last_out(user_rows: np.ndarray, item_rows: np.ndarray, order: np.ndarray,
                   min_interactions: int = 2) -> Split:
    """Hold out each user's latest interaction (by `order`, ties by input position) when the
    user has at least `min_interactions`; everything else is for training."""
    user_rows, item_rows, order = np.asarray(user_rows, np.int64), np.asarray(item_rows, np.int64), np.asarray(order)
    by_time = np.lexsort((np.arange(user_rows.size), order, user_rows))  # user, then time
    users_sorted = user_rows[by_time]
    is_last = np.r_[users_sorted[1:] != users_sorted[:-1], True] if users_sorted.size else np.zeros(0, bool)
    _, counts = np.unique(users_sorted, return_counts=True)
    enough = np.repeat(counts >= min_interactions, counts)
    held_out = np.zeros(user_rows.size, bool)
    held_out[by_time[is_last & enough]] = True
    return Split(user_rows[~held_out], item_rows[~held_out], order[~held_out], user_rows[held_out],
                 item_rows[held_out])


def with_test_pairs(split: Split, keep: np.ndarray) -> Split:
    """The same training part, holding out only the (t,) test pairs where `keep` is True."""
    keep = np.asarray(keep, bool)
    return Split(split.train_users, split.train_items, split.train_order, split.test_users[keep],
                 split.test_items[keep])


def ranks_of_positives(positive_scores: np.ndarray, negative_scores: np.ndarray,
                       negative_valid: np.ndarray | None = None) -> np.ndarray:
    """(u,) scores of held-out items and (u, m) of items to rank them against → (u,) float64
    0-based ranks: negatives scoring higher, plus half of those tied."""
    positive = np.asarray(positive_scores, np.float64)[:, None]  # (u, 1)
    negative = np.asarray(negative_scores, np.float64)  # (u, m)
    valid = np.ones(negative.shape, bool) if negative_valid is None else negative_valid
    higher = ((negative > positive) & valid).sum(axis=1)
    tied = ((negative == positive) & valid).sum(axis=1)
    return higher + 0.5 * tied


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of held-out items ranked within the top k."""
    return float(np.mean(np.asarray(ranks) < k)) if len(ranks) else 0.0


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item per user: 1 / log2(rank + 2) inside the top k, else 0."""
    ranks = np.asarray(ranks, np.float64)
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0))) if ranks.size else 0.0


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """Mean of 1 / (rank + 1), no cut-off."""
    ranks = np.asarray(ranks, np.float64)
    return float(np.mean(1.0 / (ranks + 1.0))) if ranks.size else 0.0


def recall_at_k(top_items: np.ndarray, relevant_users: np.ndarray, relevant_items: np.ndarray) -> float:
    """Mean over users of the share of their relevant items in their top list.

    `top_items` (u, k) holds each evaluated user's top-k items; relevant pair i is
    item `relevant_items[i]` of the user in row `relevant_users[i]` of `top_items`."""
    relevant_users, relevant_items = np.asarray(relevant_users), np.asarray(relevant_items)
    if relevant_users.size == 0:
        return 0.0
    found = (top_items[relevant_users] == relevant_items[:, None]).any(axis=1)  # (n,)
    per_user = np.bincount(relevant_users, weights=found) / np.maximum(np.bincount(relevant_users), 1)
    return float(per_user[np.unique(relevant_users)].mean())


def catalogue_coverage(top_items: np.ndarray, n_items: int) -> float:
    """Share of the catalogue's `n_items` items recommended to at least one user."""
    return float(np.unique(top_items[top_items >= 0]).size / n_items) if n_items else 0.0


def sample_negatives(rng: np.random.Generator, allowed: np.ndarray, taken: sp.csr_matrix, users: np.ndarray,
                     n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each user, `n` distinct allowed items the user never took: (u, n) int64 items and a
    (u, n) bool mask that is False where a user had fewer than n to draw from."""
    pool = np.flatnonzero(allowed)  # (a,)
    negatives, valid = np.zeros((users.size, n), np.int64), np.zeros((users.size, n), bool)
    for i, user in enumerate(users):
        free = pool[~np.isin(pool, taken.indices[taken.indptr[user]:taken.indptr[user + 1]])]
        chosen = rng.choice(free, size=min(n, free.size), replace=False)
        negatives[i, :chosen.size], valid[i, :chosen.size] = chosen, True
    return negatives, valid


def ranking_metrics(score_users: ScoreUsers, split: Split, recommendable: np.ndarray, k: int = 10,
                    sampled_negatives: int = 100, seed: int = 0, batch_size: int = 512) -> dict[str, float]:
    """HR@k, NDCG@k, recall@k, MRR and coverage@k of the held-out items, sampled and full.

    `recommendable` (s,) bool: only these are ranked against or recommended. Keys are
    e.g. "hr@10_sampled" and "ndcg@10_full". With one held-out item per user, recall@k
    is HR@k (up to ties, which the top-k lists break by position)."""
    n_users = int(max(split.train_users.max(initial=-1), split.test_users.max(initial=-1))) + 1
    shape = (n_users, recommendable.size)
    train = sp.csr_matrix((np.ones(split.train_users.size), (split.train_users, split.train_items)), shape=shape)
    test = sp.csr_matrix((np.ones(split.test_users.size), (split.test_users, split.test_items)), shape=shape)
    taken = (train + test).tocsr()
    rng = np.random.default_rng(seed)
    batches = [_rank_batch(score_users, split.test_users[start:start + batch_size],
                           split.test_items[start:start + batch_size], train, taken, recommendable, k,
                           sampled_negatives, rng)
               for start in range(0, split.test_users.size, batch_size)]
    metrics = {}
    for mode, ranks_at, top_at in (("sampled", 0, 1), ("full", 2, 3)):
        ranks = np.concatenate([batch[ranks_at] for batch in batches]) if batches else np.zeros(0)
        top = np.concatenate([batch[top_at] for batch in batches]) if batches else np.zeros((0, k), np.int64)
        metrics[f"hr@{k}_{mode}"] = hit_rate_at_k(ranks, k)
        metrics[f"ndcg@{k}_{mode}"] = ndcg_at_k(ranks, k)
        metrics[f"recall@{k}_{mode}"] = recall_at_k(top, np.arange(len(ranks)), split.test_items)
        metrics[f"mrr_{mode}"] = mean_reciprocal_rank(ranks)
        metrics[f"coverage@{k}_{mode}"] = catalogue_coverage(top, int(recommendable.sum()))
    metrics["test_users"] = float(split.test_users.size)
    return metrics


def _rank_batch(score_users: ScoreUsers, users: np.ndarray, items: np.ndarray, train: sp.csr_matrix,
                taken: sp.csr_matrix, recommendable: np.ndarray, k: int, n_negatives: int, rng):
    """For (b,) test users and their held-out items: sampled ranks (b,), sampled top-k items (b, k),
    full ranks (b,) and full top-k items (b, k)."""
    everyone = np.arange(users.size)[:, None]  # (b, 1)
    scores = np.asarray(score_users(users), np.float64)  # (b, s)
    positive = scores[everyone[:, 0], items]  # (b,)
    negatives, valid = sample_negatives(rng, recommendable, taken, users, n_negatives)  # (b, m) each
    sampled_ranks = ranks_of_positives(positive, scores[everyone, negatives], valid)
    candidates = np.concatenate([items[:, None], negatives], axis=1)  # (b, 1 + m)
    candidate_scores = np.where(np.c_[np.ones(users.size, bool), valid], scores[everyone, candidates], -np.inf)
    sampled_top = np.take_along_axis(candidates, _top_k(candidate_scores, k), axis=1)
    excluded = train[users].toarray().astype(bool) | ~recommendable  # (b, s)
    others = ~excluded
    others[everyone[:, 0], items] = False
    full_ranks = ranks_of_positives(positive, scores, others)
    full_top = _top_k(np.where(excluded, -np.inf, scores), k)
    return sampled_ranks, sampled_top, full_ranks, full_top


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(b, m) scores → (b, min(k, m)) column positions of the highest, best first."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k else np.zeros((scores.shape[0], 0), np.int64)
    return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable"), 1)
