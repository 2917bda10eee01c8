"""What NCF trains and validates on: each epoch's positives with freshly drawn negatives,
their loss weights (recent interactions weigh more) and history windows, and the
held-out pairs with their fixed sampled negatives that early stopping watches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from app.training.evaluation import hit_rate_at_k, ndcg_at_k, ranks_of_positives
from app.training.ncf_network import NCFConfig, NCFNetwork


def epoch_examples(rng: np.random.Generator, users: np.ndarray, items: np.ndarray, pool: np.ndarray,
                   taken_keys: np.ndarray, n_items: int, per_positive: int):
    """One epoch's examples: the (n,) positive pairs and `per_positive` fresh negatives each, drawn
    from `pool` (recommendable item rows) and never a pair in the sorted `taken_keys`
    (user * n_items + item). Returns users, items and float32 labels, positives first."""
    negative_users = np.repeat(users, per_positive)
    negative_items = pool[rng.integers(0, pool.size, negative_users.size)]
    for _ in range(20):  # resample the few that hit a taken pair; rare when the data is sparse
        keys = negative_users * n_items + negative_items
        spot = np.minimum(np.searchsorted(taken_keys, keys), taken_keys.size - 1)
        clash = np.flatnonzero(taken_keys[spot] == keys)
        if clash.size == 0:
            break
        negative_items[clash] = pool[rng.integers(0, pool.size, clash.size)]
    all_users = np.concatenate([users, negative_users])
    all_items = np.concatenate([items, negative_items])
    labels = np.concatenate([np.ones(users.size, np.float32), np.zeros(negative_users.size, np.float32)])
    return all_users, all_items, labels


def later_interactions(users: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(n,) for each interaction, how many of the same user's come after it (ties by input position)."""
    users = np.asarray(users, np.int64)
    by_time = np.lexsort((np.arange(users.size), order, users))  # user, then time
    sorted_users = users[by_time]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]]) if users.size else np.zeros(0, int)
    counts = np.diff(np.r_[starts, users.size])
    position = np.arange(users.size) - np.repeat(starts, counts)  # within the user, oldest first
    later = np.empty(users.size, np.int64)
    later[by_time] = np.repeat(counts, counts) - 1 - position
    return later


def recency_weights(users: np.ndarray, order: np.ndarray, half_life: float) -> np.ndarray:
    """(n,) float32 loss weights: 1 for each user's latest interaction, halving every `half_life`
    interactions back; all 1 when `half_life` is 0."""
    if not half_life:
        return np.ones(len(users), np.float32)
    return (0.5 ** (later_interactions(users, order) / half_life)).astype(np.float32)


def history_windows(users: np.ndarray, items: np.ndarray, order: np.ndarray, length: int,
                    padding: int) -> np.ndarray:
    """(n, length) int64: for each interaction, the items of the same user's `length` interactions
    just before it (by `order`, ties by input position), oldest first, the latest in the last column,
    left-padded with `padding` where there are fewer."""
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    windows = np.full((users.size, length), padding, np.int64)
    if users.size == 0 or length == 0:
        return windows
    by_time = np.lexsort((np.arange(users.size), order, users))  # user, then time
    sorted_users, sorted_items = users[by_time], items[by_time]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    position = np.arange(users.size) - np.repeat(starts, np.diff(np.r_[starts, users.size]))  # within the user
    sorted_windows = np.full((users.size, length), padding, np.int64)
    for back in range(1, length + 1):
        has = np.flatnonzero(position >= back)
        sorted_windows[has, length - back] = sorted_items[has - back]
    windows[by_time] = sorted_windows
    return windows


def latest_windows(users: np.ndarray, items: np.ndarray, order: np.ndarray, n_users: int, length: int,
                   padding: int) -> np.ndarray:
    """(n_users, length) int64: each user row's latest `length` items as `history_windows` lays them
    out, i.e. the window of an interaction after all of theirs (all `padding` for a user with none)."""
    after_all = history_windows(np.r_[np.asarray(users, np.int64), np.arange(n_users)],
                                np.r_[np.asarray(items, np.int64), np.full(n_users, padding)],
                                np.r_[np.asarray(order, np.float64), np.full(n_users, np.inf)], length, padding)
    return after_all[len(users):]


@dataclass
class TrainingExamples:
    """The positives of a fit, their loss weights, and what `epoch_examples` needs to add negatives."""

    users: np.ndarray  # (p,)
    items: np.ndarray  # (p,)
    weights: np.ndarray  # (p,) float32
    pool: np.ndarray
    taken_keys: np.ndarray
    n_items: int
    per_positive: int
    history: np.ndarray  # (p, L) each positive's `history_windows`

    @classmethod
    def of(cls, users: np.ndarray, items: np.ndarray, order: np.ndarray, recommendable: np.ndarray,
           config: NCFConfig) -> TrainingExamples:
        """These positive pairs; negatives are recommendable items, never one of the pairs."""
        n_items = recommendable.size
        taken_keys = np.unique(np.asarray(users, np.int64) * n_items + items)  # sorted
        return cls(np.asarray(users, np.int64), np.asarray(items, np.int64),
                   recency_weights(users, order, config.recency_half_life), np.flatnonzero(recommendable),
                   taken_keys, n_items, config.negatives_per_positive,
                   history_windows(users, items, order, config.history_length, n_items))

    def draw(self, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One epoch's users, items, labels, loss weights and history windows; every negative weighs 1
        and has its positive's window (the user's state when they took it)."""
        users, items, labels = epoch_examples(rng, self.users, self.items, self.pool, self.taken_keys,
                                              self.n_items, self.per_positive)
        weights = np.r_[self.weights, np.ones(labels.size - self.weights.size, np.float32)]
        history = np.concatenate([self.history, np.repeat(self.history, self.per_positive, axis=0)])
        return users, items, labels, weights, history


@dataclass
class Validation:
    """Held-out (user, item) pairs with a fixed sample of negatives each."""

    users: np.ndarray  # (v,)
    items: np.ndarray  # (v,)
    negatives: np.ndarray  # (v, m)
    valid: np.ndarray  # (v, m) bool
    history: np.ndarray  # (v, L) each user's latest training items

    def evaluate(self, model: NCFNetwork) -> tuple[float, float]:
        """(HR@10, NDCG@10) of the held-out items among their negatives."""
        model.eval()
        candidates = np.concatenate([self.items[:, None], self.negatives], axis=1)  # (v, 1 + m)
        users = np.repeat(self.users, candidates.shape[1])
        with torch.inference_mode():
            scores = model.score_rows(torch.as_tensor(users), torch.as_tensor(candidates.ravel()),
                                      torch.as_tensor(np.repeat(self.history, candidates.shape[1], axis=0)))
        scores = scores.numpy().reshape(candidates.shape)
        ranks = ranks_of_positives(scores[:, 0], scores[:, 1:], self.valid)
        return hit_rate_at_k(ranks, 10), ndcg_at_k(ranks, 10)
