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

The rest of NCF's training: app/training/ncf.py (`fit_ncf`), ncf_fit.py (the loop that
trains one network), ncf_ensembles.py (members merged or distilled), ncf_examples.py
(positives, sampled negatives, history windows, the validation pairs).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


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
