"""NCF for the click and cart objectives: the order model's service side trained again on
that objective's positives.

The dump says what each user took (orders); stored user actions and events say what
they clicked and put in a cart. A panel for the next click should rank what people
click, which is not what they order (app/engines/interactions.py). For each such
objective whose data has positives of its own, a copy of the served order network
trains only its service side (the service id factors of the GMF and of the MLP, and
the head) on those positives with fresh negatives, while the user side (id factors,
history factors, content, the MLP tower) stays frozen. Why only that side:
- serving an objective then costs one more set of service arrays, not a second model
  with a row per user;
- a user with few clicks is still described by everything their orders taught;
- the user vector is the one the order model serves (their latest taken services as
  history), so training sees exactly what serving will compute.

Like the order model, the side is trained once with each user's latest positive held out,
stopping early on it, measured there against the order model and against the popularity
of that objective's positives, then trained again on every positive for the best epoch count.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from app.engines.interactions import InteractionType
from app.progress import Progress
from app.training.dataset import InteractionData
from app.training.evaluation import Split, leave_last_out, sample_negatives
from app.training.ncf_examples import TrainingExamples, Validation
from app.training.ncf_fit import train_model
from app.training.ncf_network import NCFConfig, NCFNetwork

# The interaction types that are an objective's positives; orders are the dump's takings.
OBJECTIVE_POSITIVE_TYPES: dict[str, tuple[InteractionType, ...]] = {
    "click": (InteractionType.CLICK,), "cart": (InteractionType.CART,)}
SERVICE_SIDE = ("item_gmf", "item_mlp", "head")  # what an objective trains; the rest is the order model's


@dataclass(frozen=True, eq=False)
class Positives:
    """One objective's positive (user row, service row) pairs, each pair once, at its latest time."""

    users: np.ndarray  # (n,) int64
    items: np.ndarray  # (n,) int64
    order: np.ndarray  # (n,) float64 seconds

    def __len__(self) -> int:
        return int(self.users.size)


def objective_positives(data: InteractionData, interactions: Mapping[str, np.ndarray]) -> dict[str, Positives]:
    """Each objective's positives among interaction arrays (keys, service_ids, types, timestamps):
    those of the dump's users (keys "user:<id>") about the dump's services. Visitors without an
    account have no row to train."""
    keys = np.asarray(interactions["keys"], dtype=object)
    is_user = np.fromiter((str(key).startswith("user:") for key in keys), bool, keys.size)
    user_ids = np.fromiter((int(str(key)[5:]) if user else -1 for key, user in zip(keys, is_user)), np.int64,
                           keys.size)
    user_rows, user_known = data.users.positions(user_ids)
    service_rows, service_known = data.services.positions(np.asarray(interactions["service_ids"], np.int64))
    kept = is_user & user_known & service_known
    types, stamps = np.asarray(interactions["types"]), np.asarray(interactions["timestamps"], np.float64)
    positives = {}
    for objective, wanted in OBJECTIVE_POSITIVE_TYPES.items():
        mine = np.flatnonzero(kept & np.isin(types, wanted))
        latest_first = mine[np.lexsort((-stamps[mine], service_rows[mine], user_rows[mine]))]
        pairs = user_rows[latest_first] * data.n_services + service_rows[latest_first]
        _, first = np.unique(pairs, return_index=True)  # each pair at its latest time
        chosen = np.sort(latest_first[first])
        positives[objective] = Positives(user_rows[chosen].astype(np.int64), service_rows[chosen].astype(np.int64),
                                         stamps[chosen])
    return positives


def why_not_trained(positives: Positives, data: InteractionData, min_positives: int) -> str | None:
    """Why an objective gets no side of its own (None: it does): too few positives, or none
    beyond the orders, which the order model has learnt already."""
    if len(positives) < min_positives:
        return f"{len(positives)} positives, fewer than {min_positives}"
    n = data.n_services
    ordered = np.unique(data.user_rows * n + data.service_rows)
    if np.isin(positives.users * n + positives.items, ordered).all():
        return "every positive is also an order"
    return None


@dataclass
class ObjectiveFit:
    """An objective's side: the validated network (trained without each user's latest positive),
    the split it was measured on, and how fitting went."""

    validated: NCFNetwork
    split: Split
    best_epoch: int
    validation_hr_at_10: float | None
    validation_ndcg_at_10: float | None
    seconds: float


def fit_objective_side(network: NCFNetwork, positives: Positives, windows: np.ndarray, recommendable: np.ndarray,
                       config: NCFConfig, epochs: int, progress: Progress | None, rng) -> ObjectiveFit:
    """Train a copy of the order `network`'s service side on the objective's positives but each user's
    latest (held out; early stopping watches it). `windows` (u, L): each user row's latest taken
    service rows (the order model's history, padded with the item count), the history of every example."""
    started = time.perf_counter()
    split = leave_last_out(positives.users, positives.items, positives.order)
    start = _service_side_only(network)
    n_items = recommendable.size
    taken = sp.csr_matrix((np.ones(len(positives)), (positives.users, positives.items)),
                          shape=(windows.shape[0], n_items))
    validation = Validation(split.test_users, split.test_items,
                            *sample_negatives(rng, recommendable, taken, split.test_users, config.validation_negatives),
                            windows[split.test_users])
    examples = _with_windows(TrainingExamples.of(split.train_users, split.train_items, split.train_order,
                                                 recommendable, config), windows)
    validated, run = train_model(None, None, examples, config, epochs, validation, progress, rng, start=start)
    return ObjectiveFit(validated, split, run.best_epoch, run.best_hr, run.best_ndcg, time.perf_counter() - started)


def refit_objective_side(network: NCFNetwork, positives: Positives, windows: np.ndarray, recommendable: np.ndarray,
                         config: NCFConfig, epochs: int, progress: Progress | None, rng) -> NCFNetwork:
    """The service side trained on every positive for `epochs`: what serves the objective."""
    examples = _with_windows(TrainingExamples.of(positives.users, positives.items, positives.order, recommendable,
                                                 config), windows)
    side, _ = train_model(None, None, examples, config, epochs, None, progress, rng,
                          start=_service_side_only(network))
    return side


def _service_side_only(network: NCFNetwork) -> NCFNetwork:
    """A copy of the network with every parameter but the service side's frozen."""
    side = copy.deepcopy(network)
    for name, parameter in side.named_parameters():
        parameter.requires_grad_(name.split(".")[0] in SERVICE_SIDE)
    return side


def _with_windows(examples: TrainingExamples, windows: np.ndarray) -> TrainingExamples:
    """The examples with each positive's history replaced by its user's latest taken services, as served."""
    return replace(examples, history=windows[examples.users])
