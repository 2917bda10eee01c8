"""Neural collaborative filtering (He et al., 2017) with a content side, and its training loop.

The score of (user, service) is sigmoid(head · [GMF, MLP]):
- GMF: the element-wise product of the user's and the service's id factors,
  where the user's are their own id factors plus, with `history_length` L > 0,
  the mean of the history factors of the L services they took last (a second
  factor table over the services, as in FISM and SVD++);
- MLP: a ReLU tower over [user id embedding, service id embedding, user content,
  service content], where content is the autoencoders' embedding of the features.
Each side has one extra id row, the last, for "no id": a user or service the
model has no trained row for. Training replaces a random `id_dropout` share of
the ids by it, so that row and the content inputs learn to score on their own.

The history term is what lets the model follow a user's drift in taste: a
user's id factors are one fixed point summing up all they ever took, while
what they take next is most like what they took last (on MovieLens, holding out
a random interaction instead of the latest raises HR@10 from about 0.66 to
0.82). Each training positive gets the user's L services taken strictly before
it (fewer at first, none for the first), and its negatives share them; scoring
uses the L latest. A visitor without a trained row is scored from the "no id"
row, the content and their history.

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

import itertools
import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from app.progress import Progress
from app.training.evaluation import (
    hit_rate_at_k,
    leave_last_out,
    ndcg_at_k,
    ranks_of_positives,
    sample_negatives,
)


@dataclass
class NCFConfig:
    """Architecture and training of an NCF model; saved beside its weights."""

    gmf_dim: int = 32
    mlp_embedding_dim: int = 32
    mlp_layers: tuple[int, ...] = (64, 32, 16)  # hidden sizes of the MLP tower
    id_dropout: float = 0.1  # share of examples whose user (and, separately, service) id is hidden
    negatives_per_positive: int = 4
    epochs: int = 40
    batch_size: int = 1024
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    validation_negatives: int = 100
    patience: int = 4  # epochs without a better validation NDCG@10 before stopping
    refit: bool = True  # after early stopping, train again with the held-out pairs for the best epoch count
    seed: int = 0  # member m of the final fit uses seed + m
    recency_half_life: float = 30.0  # in later interactions of the same user; 0 weighs every positive 1
    # Models averaged in the final fit (the validated run trains one). More than one raises HR@10 on
    # MovieLens (benchmarks/quality.py, without the history term: mean of 4 seeds 0.661 for one, 0.683
    # for five merged), but
    # the merged network is `members` times wider and its hidden layers cost members² times as much
    # to serve, so by default the five only teach one network of a member's size (`distill`).
    members: int = 5
    # With members > 1: serve one network of the members' size (the student) trained on the merged
    # members' probabilities (the teacher), instead of the merged network itself, so serving costs as
    # much as members=1 (MovieLens: mean of 4 seeds 0.681). It starts from the first member and trains
    # `distill_epochs` more epochs on fresh negatives, its targets `distill_alpha` × label +
    # (1 - distill_alpha) × the teacher's.
    distill: bool = True
    distill_alpha: float = 0.0
    distill_epochs: int = 10
    distill_negatives_per_positive: int = 4
    distill_learning_rate: float = 1e-3
    distill_from_first: bool = True  # else a fresh student (seed + members), trained as long as the members
    # The services taken last that shift the user's GMF factors (module docstring); 0: no history term.
    # MovieLens (benchmarks/quality.py, NCF seeds 0-3, HR@10 among 100 sampled): 3 raises the default
    # five distilled from 0.677 to 0.729 on average and one model from 0.659 to 0.717, at about 1.3
    # times the training time (101 s instead of 76 s, mostly more epochs before early stopping). On
    # one model, 3 did better than 2, 5, 10 or 20: the latest few say most about the next.
    history_length: int = 3


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


class NCFNetwork(nn.Module):
    def __init__(self, user_content: np.ndarray, item_content: np.ndarray, config: NCFConfig):
        super().__init__()
        self.config = config
        self.n_users, self.n_items = user_content.shape[0], item_content.shape[0]
        # Fixed inputs: the autoencoders are trained first and not fine-tuned here.
        self.register_buffer("user_content", torch.as_tensor(user_content, dtype=torch.float32))  # (u, cu)
        self.register_buffer("item_content", torch.as_tensor(item_content, dtype=torch.float32))  # (s, ci)
        self.user_gmf = nn.Embedding(self.n_users + 1, config.gmf_dim)  # last row: no id
        self.item_gmf = nn.Embedding(self.n_items + 1, config.gmf_dim)
        self.user_mlp = nn.Embedding(self.n_users + 1, config.mlp_embedding_dim)
        self.item_mlp = nn.Embedding(self.n_items + 1, config.mlp_embedding_dim)
        for embedding in (self.user_gmf, self.item_gmf, self.user_mlp, self.item_mlp):
            nn.init.normal_(embedding.weight, std=0.01)
        sizes = [2 * config.mlp_embedding_dim + user_content.shape[1] + item_content.shape[1], *config.mlp_layers]
        self.mlp = nn.Sequential(*[module for n_in, n_out in itertools.pairwise(sizes)
                                   for module in (nn.Linear(n_in, n_out), nn.ReLU())])
        self.head = nn.Linear(config.gmf_dim + sizes[-1], 1)
        if config.history_length:
            # Made last, so that the other layers start as they would without it. Its last row pads
            # windows shorter than history_length and is left out of the mean.
            self.history_gmf = nn.Embedding(self.n_items + 1, config.gmf_dim)
            nn.init.normal_(self.history_gmf.weight, std=0.01)

    def forward(self, users: torch.Tensor, items: torch.Tensor, user_content: torch.Tensor,
                item_content: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """(b,) id rows (the last row for no id), (b, cu) and (b, ci) content, and with `history_length`
        the (b, L) item rows taken last (padded with the last row; None: no history) → (b,) logits."""
        user_gmf = self.user_gmf(users)  # (b, g)
        if self.config.history_length and history is not None:
            user_gmf = user_gmf + self.history_vector(history)
        gmf = user_gmf * self.item_gmf(items)  # (b, g)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items), user_content, item_content], 1))
        return self.head(torch.cat([gmf, mlp], dim=1)).squeeze(1)  # (b,)

    def history_vector(self, history: torch.Tensor) -> torch.Tensor:
        """(b, L) item rows, padded with the last row → (b, g) mean of their history factors (0 for none)."""
        taken = (history != self.n_items).unsqueeze(2).float()  # (b, L, 1)
        return (self.history_gmf(history) * taken).sum(1) / taken.sum(1).clamp(min=1.0)

    def score_rows(self, users: torch.Tensor, items: torch.Tensor, history: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """(b,) trained user rows, (b,) item rows and (b, L) history rows → (b,) logits, content from
        the stored embeddings."""
        return self(users, items, self.user_content[users], self.item_content[items], history)


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
    every_pair = _Examples.of(users, items, order, recommendable, config)
    if epochs is not None:
        model, run = _train_members(user_content, item_content, every_pair, config, epochs, progress, "ncf", rng)
        return model, NCFReport(run.epochs, run.epochs, run.train_loss, None, None, 0, False,
                                time.perf_counter() - started, config.members)
    split = leave_last_out(users, items, order)
    taken = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(user_content.shape[0] + 1, n_items))
    validation = _Validation(split.test_users, split.test_items, *sample_negatives(
        rng, recommendable, taken.tocsr(), split.test_users, config.validation_negatives),
        latest_windows(split.train_users, split.train_items, split.train_order, user_content.shape[0],
                       config.history_length, n_items)[split.test_users])
    # The held-out pairs may be drawn as training negatives, as the test pairs of an evaluation may.
    training_pairs = _Examples.of(split.train_users, split.train_items, split.train_order, recommendable, config)
    model, run = _train(user_content, item_content, training_pairs, config, config.epochs, validation, progress, rng)
    refitted = bool(config.refit and validation.users.size)
    if refitted:
        model, _ = _train_members(user_content, item_content, every_pair, config, run.best_epoch, progress,
                                  "ncf_refit", rng)
    return model, NCFReport(run.epochs, run.best_epoch, run.train_loss, run.best_hr, run.best_ndcg,
                            int(validation.users.size), refitted, time.perf_counter() - started,
                            config.members if refitted else 1)


@dataclass
class _Run:
    epochs: int
    best_epoch: int
    train_loss: float
    best_hr: float | None = None
    best_ndcg: float | None = None


def _train_members(user_content, item_content, examples: _Examples, config: NCFConfig, epochs: int,
                   progress: Progress | None, step: str, rng) -> tuple[NCFNetwork, _Run]:
    """`config.members` fresh models, each trained for `epochs`, merged (or, with `config.distill`,
    distilled into one of the members' size); the first one's run. Their progress is reported as
    `step`, `step`_2, ..., the distillation's as `step`_distill."""
    models, runs = [], []
    for member in range(config.members):
        model, run = _train(user_content, item_content, examples, replace(config, seed=config.seed + member),
                            epochs, None, renamed(progress, step if member == 0 else f"{step}_{member + 1}"), rng)
        models.append(model)
        runs.append(run)
    if config.distill and len(models) > 1:
        return distilled(merged(models), models[0], examples, config, epochs, renamed(progress, f"{step}_distill"),
                         rng), runs[0]
    return merged(models), runs[0]


def distilled(teacher: NCFNetwork, first: NCFNetwork, examples: _Examples, config: NCFConfig, epochs: int,
              progress: Progress | None, rng) -> NCFNetwork:
    """A model of the members' size trained to score as `teacher` does on `examples` and fresh
    negatives: from `first` (a copy) for `config.distill_epochs`, or afresh for `epochs`."""
    student_config = replace(config, seed=config.seed + config.members,
                             negatives_per_positive=config.distill_negatives_per_positive)
    torch.manual_seed(student_config.seed)
    student = NCFNetwork(first.user_content.numpy(), first.item_content.numpy(), first.config)
    if config.distill_from_first:
        student.load_state_dict(first.state_dict())
        epochs = config.distill_epochs
    optimizer = torch.optim.Adam(student.parameters(), lr=config.distill_learning_rate,
                                 weight_decay=config.weight_decay)
    examples = replace(examples, per_positive=config.distill_negatives_per_positive)
    for epoch in range(1, epochs + 1):
        student.train()
        loss = _train_epoch(student, optimizer, *examples.draw(rng), rng, teacher=teacher, alpha=config.distill_alpha)
        if progress:
            progress("ncf", 100.0 * epoch / epochs, epoch=epoch, loss=loss)
    return student.eval()


def merged(models: list[NCFNetwork]) -> NCFNetwork:
    """One NCF whose logit is the mean of the models' logits: their id factors side by side, their MLP
    towers as one block-diagonal tower (sharing the content inputs), their heads averaged."""
    if len(models) == 1:
        return models[0]
    first, k = models[0], len(models)
    config = first.config
    wide = NCFNetwork(first.user_content.numpy(), first.item_content.numpy(),
               replace(config, gmf_dim=k * config.gmf_dim, mlp_embedding_dim=k * config.mlp_embedding_dim,
                       mlp_layers=tuple(k * size for size in config.mlp_layers), members=1))
    g, d = config.gmf_dim, config.mlp_embedding_dim
    with torch.no_grad():
        # Every member masks the same padding of a window, so the mean of the history factors laid side
        # by side is the members' means side by side: they merge like the other id factors.
        for name in ("user_gmf", "item_gmf", "user_mlp", "item_mlp") + (("history_gmf",) if
                                                                        config.history_length else ()):
            getattr(wide, name).weight.copy_(torch.cat([getattr(m, name).weight for m in models], dim=1))
        layers = [[layer for layer in m.mlp if isinstance(layer, nn.Linear)] for m in models]
        wide_layers = [layer for layer in wide.mlp if isinstance(layer, nn.Linear)]
        for depth, wide_layer in enumerate(wide_layers):
            wide_layer.weight.zero_()
            wide_layer.bias.copy_(torch.cat([member[depth].bias for member in layers]))
            for m, member in enumerate(layers):
                weight = member[depth].weight  # (out, in)
                rows = slice(m * weight.shape[0], (m + 1) * weight.shape[0])
                if depth > 0:
                    wide_layer.weight[rows, m * weight.shape[1]:(m + 1) * weight.shape[1]] = weight
                    continue
                # The first layer's inputs: user id embeddings, item id embeddings, then the shared content.
                wide_layer.weight[rows, m * d:(m + 1) * d] = weight[:, :d]
                wide_layer.weight[rows, k * d + m * d:k * d + (m + 1) * d] = weight[:, d:2 * d]
                wide_layer.weight[rows, 2 * k * d:] = weight[:, 2 * d:]
        last = config.mlp_layers[-1]
        heads = [m.head.weight[0] for m in models]  # each (g + last,): GMF part, then MLP part
        wide.head.weight[0] = torch.cat([h[:g] for h in heads] + [h[g:g + last] for h in heads]) / k
        wide.head.bias.copy_(torch.stack([m.head.bias for m in models]).mean(dim=0))
    return wide.eval()


def _train(user_content, item_content, examples: _Examples, config: NCFConfig, epochs: int,
           validation: _Validation | None, progress: Progress | None, rng) -> tuple[NCFNetwork, _Run]:
    """A fresh model trained for up to `epochs`; with `validation`, stopped early at its best epoch."""
    torch.manual_seed(config.seed)
    model = NCFNetwork(user_content, item_content, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    run, best_state = _Run(0, 0, float("nan")), None
    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = _train_epoch(model, optimizer, *examples.draw(rng), rng)
        run.epochs, run.train_loss = epoch, train_loss
        hr, ndcg = validation.evaluate(model) if validation is not None else (None, None)
        if progress:
            progress("ncf", 100.0 * epoch / epochs, epoch=epoch, loss=train_loss,
                     validation_hr_at_10=hr, validation_ndcg_at_10=ndcg)
        if validation is None:
            run.best_epoch = epoch
        elif run.best_ndcg is None or ndcg > run.best_ndcg:
            run.best_epoch, run.best_hr, run.best_ndcg = epoch, hr, ndcg
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        elif epoch - run.best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), run


def renamed(progress: Progress | None, step: str) -> Progress | None:
    """The callback with its step renamed, so each fit reports under its own name."""
    return None if progress is None else (lambda _step, percent, **details: progress(step, percent, **details))


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
class _Examples:
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
           config: NCFConfig) -> _Examples:
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


def _train_epoch(model: NCFNetwork, optimizer, users, items, labels, weights, history, rng,
                 teacher: NCFNetwork | None = None, alpha: float = 1.0) -> float:
    """One pass in random order; each example's ids are hidden with probability `id_dropout` (not its
    history: a visitor without a trained row may have one).
    With a `teacher`, each target is `alpha` × the label + (1 - `alpha`) × the teacher's probability
    for the same (possibly hidden) ids. Mean weighted loss."""
    order = torch.as_tensor(rng.permutation(users.size))
    users, items = torch.as_tensor(users), torch.as_tensor(items)
    labels, weights, history = torch.as_tensor(labels), torch.as_tensor(weights), torch.as_tensor(history)
    total = 0.0
    for batch in order.split(model.config.batch_size):
        u, i = users[batch], items[batch]  # (b,) each
        content_u, content_i = model.user_content[u], model.item_content[i]
        hide = model.config.id_dropout
        if hide > 0:
            u = torch.where(torch.rand(u.shape) < hide, model.n_users, u)
            i = torch.where(torch.rand(i.shape) < hide, model.n_items, i)
        targets, window = labels[batch], history[batch]  # (b,), (b, L)
        if teacher is not None:
            with torch.no_grad():
                taught = torch.sigmoid(teacher(u, i, content_u, content_i, window))
            targets = alpha * targets + (1 - alpha) * taught
        losses = nn.functional.binary_cross_entropy_with_logits(model(u, i, content_u, content_i, window), targets,
                                                                reduction="none")  # (b,)
        loss = (losses * weights[batch]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * batch.numel()
    return total / users.numel()


@dataclass
class _Validation:
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
