"""Fitting NCF (the network: app/training/ncf_network.py) on implicit feedback.

Training is on implicit feedback: every taken service is a positive, and each
epoch draws `negatives_per_positive` fresh negatives per positive among the
recommendable services the user never took. Each user's latest training
interaction is held out; training stops when NDCG@10 among 100 sampled negatives
on those stops improving, and the model is trained again on every interaction
for the best epoch count (the held-out ones are each user's most recent taste).

A positive's loss weight halves every `recency_half_life` interactions the user
made after it: what a user took lately says more about what they take next.
The final fit trains `members` models from different seeds and serves them as
one network, block-diagonal, whose logit is the mean of theirs: averaging
independently initialised models cancels much of the seed-to-seed variance of
any one, at the price of a wider network to serve. With `distill`, that network
only teaches: one network of a member's size is trained on its probabilities
(knowledge distillation, Hinton et al., 2015) and served instead, at one member's cost.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from app.progress import Progress
from app.training.evaluation import leave_last_out, sample_negatives
from app.training.ncf_ensembles import train_members
from app.training.ncf_examples import TrainingExamples, Validation, latest_windows
from app.training.ncf_fit import train_model
from app.training.ncf_network import NCFConfig, NCFNetwork


@dataclass
class NCFReport:
    """How fitting went; JSON-able through `dataclasses.asdict`."""

    epochs: int  # run before stopping (the validated run's, when refitted)
    best_epoch: int
    train_loss: float
    validation_hr_at_10: float | None  # at the best epoch, on each user's latest pair
    validation_ndcg_at_10: float | None
    validation_users: int
    refitted: bool  # the returned model was trained again on every pair for best_epoch epochs
    seconds: float
    members: int = 1  # models averaged in the returned one (or, with `distill`, taught it)


def fit_ncf(users: np.ndarray, items: np.ndarray, order: np.ndarray, user_content: np.ndarray,
            item_content: np.ndarray, recommendable: np.ndarray, config: NCFConfig,
            progress: Progress | None = None, epochs: int | None = None) -> tuple[NCFNetwork, NCFReport]:
    """Fit on (n,) positive (user row, item row) pairs with (n,) times; (u, cu) and (s, ci) content
    embeddings; (s,) bool recommendable items (the only negatives). Returns the model in eval mode.

    Without `epochs`: hold out each user's latest pair, stop early on it, then (with
    `config.refit`) train afresh on every pair for the best number of epochs, so the
    users' most recent interests are not left out. With `epochs`: train on every pair
    for exactly that many epochs, e.g. the best count of an earlier, validated run. Either
    fit on every pair trains `config.members` models, returned merged into one."""
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    n_items = item_content.shape[0]
    every_pair = TrainingExamples.of(users, items, order, recommendable, config)
    if epochs is not None:
        model, run = train_members(user_content, item_content, every_pair, config, epochs, progress, "ncf", rng)
        return model, NCFReport(run.epochs, run.epochs, run.train_loss, None, None, 0, False,
                                time.perf_counter() - started, config.members)
    split = leave_last_out(users, items, order)
    taken = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(user_content.shape[0] + 1, n_items))
    validation = Validation(split.test_users, split.test_items, *sample_negatives(
        rng, recommendable, taken.tocsr(), split.test_users, config.validation_negatives),
        latest_windows(split.train_users, split.train_items, split.train_order, user_content.shape[0],
                       config.history_length, n_items)[split.test_users])
    # The held-out pairs may be drawn as training negatives, as the test pairs of an evaluation may.
    training_pairs = TrainingExamples.of(split.train_users, split.train_items, split.train_order, recommendable, config)
    model, run = train_model(user_content, item_content, training_pairs, config, config.epochs, validation, progress,
                             rng)
    refitted = bool(config.refit and validation.users.size)
    if refitted:
        model, _ = train_members(user_content, item_content, every_pair, config, run.best_epoch, progress,
                                  "ncf_refit", rng)
    return model, NCFReport(run.epochs, run.best_epoch, run.train_loss, run.best_hr, run.best_ndcg,
                            int(validation.users.size), refitted, time.perf_counter() - started,
                            config.members if refitted else 1)
