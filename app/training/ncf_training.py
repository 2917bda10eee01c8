"""The whole NCF training run on a dump's data: autoencoders, NCF, evaluation, export.

    data = interaction_data_from_dump(dump)
    result = train_ncf(data, NCFTrainingConfig(), progress)
    register("NCF", result.model.to_arrays(), result.model.params(), config=result.config,
             metrics=result.metrics, training_seconds=result.seconds, ...)

The model is evaluated on each user's latest interaction (held out), then, by
default, fitted again on everything, for as many epochs as early stopping chose,
for serving. With a history term (`NCFConfig.history_length`), each evaluated
user is scored with the services they took last in the training data, as the
serving engine scores a user with the services they took last.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from app.engines.ncf import NCFModel
from app.progress import Progress
from app.training.autoencoder import AutoencoderConfig, encode, fit_autoencoder
from app.training.baselines import fit_popularity_baseline
from app.training.dataset import InteractionData
from app.training.evaluation import ScoreUsers, leave_last_out, ranking_metrics
from app.training.ncf import fit_ncf
from app.training.ncf_examples import latest_windows
from app.training.ncf_export import export_ncf, ncf_score_users, service_side
from app.training.ncf_fit import renamed
from app.training.ncf_network import NCFConfig, NCFNetwork
from app.training.ncf_objectives import Positives, fit_objective_side, refit_objective_side, why_not_trained


@dataclass
class NCFTrainingConfig:
    """Everything one run is configured by; saved beside the weights as JSON."""

    user_autoencoder: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(embedding_dim=64))
    service_autoencoder: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(embedding_dim=128))
    ncf: NCFConfig = field(default_factory=NCFConfig)
    k: int = 10  # the cut-off of the reported metrics
    evaluation_seed: int = 0  # draws the 100 sampled negatives
    refit_on_all: bool = True  # serve a model fitted on every interaction, not the evaluated one
    # Click and cart objectives (app/training/ncf_objectives.py): trained when they have this many
    # positives beyond the orders, for at most this many epochs of their service side.
    objective_min_positives: int = 500
    objective_epochs: int = 20


@dataclass
class NCFTrainingResult:
    """What the registry stores: arrays and params (from `model`), config and metrics (JSON)."""

    model: NCFModel
    config: dict
    metrics: dict  # flat ranking metrics (e.g. "hr@10_sampled") and the fits' reports under "reports"
    seconds: float
    # The evaluated model's scores (trained without the held-out pairs), to measure it on
    # other held-out pairs of the same split (the gate).
    held_out_scores: ScoreUsers | None = None


def train_ncf(data: InteractionData, config: NCFTrainingConfig | None = None,
              progress: Progress | None = None, objectives: Mapping[str, Positives] | None = None
              ) -> NCFTrainingResult:
    """Fit both autoencoders and NCF, evaluate on held-out latest interactions, export for serving;
    with `objectives` (`objective_positives`), a service side for each objective whose data has
    positives of its own, measured on its positives (metrics["objectives"])."""
    started = time.perf_counter()
    config = config or NCFTrainingConfig()
    user_autoencoder, user_report = fit_autoencoder(data.user_features, config.user_autoencoder,
                                                    renamed(progress, "user_autoencoder"))
    service_autoencoder, service_report = fit_autoencoder(data.service_features, config.service_autoencoder,
                                                          renamed(progress, "service_autoencoder"))
    user_content = encode(user_autoencoder, data.user_features)  # (u, cu)
    service_content = encode(service_autoencoder, data.service_features)  # (s, ci)

    split = leave_last_out(data.user_rows, data.service_rows, data.order)
    model, ncf_report = fit_ncf(split.train_users, split.train_items, split.train_order, user_content,
                                service_content, data.recommendable, config.ncf, progress)
    evaluated = export_ncf(model, data.users.ids, data.services.ids, user_autoencoder, data.user_encoder)
    history = latest_windows(split.train_users, split.train_items, split.train_order, data.n_users,
                             config.ncf.history_length, -1)  # (u, L), -1 for none
    held_out_scores = ncf_score_users(evaluated, history)
    metrics = ranking_metrics(held_out_scores, split, data.recommendable, config.k, seed=config.evaluation_seed)
    if progress:
        progress("evaluation", 100.0, **metrics)
    refit_report = None
    if config.refit_on_all:
        model, refit_report = fit_ncf(data.user_rows, data.service_rows, data.order, user_content,
                                      service_content, data.recommendable, config.ncf,
                                      renamed(progress, "ncf_serving"), epochs=ncf_report.best_epoch)
    order_model = (export_ncf(model, data.users.ids, data.services.ids, user_autoencoder, data.user_encoder)
                   if config.refit_on_all else evaluated)
    sides, objective_metrics = _objective_sides(model, order_model, data, objectives or {}, config, progress)
    served = replace(order_model, objective_sides=sides).with_retrieval()  # the same arrays, not copies
    reports = {"user_autoencoder": asdict(user_report), "service_autoencoder": asdict(service_report),
               "ncf": asdict(ncf_report), "ncf_serving": asdict(refit_report) if refit_report else None}
    saved_config = {**asdict(config), "user_features": data.user_encoder.to_dict(),
                    "service_features": data.service_encoder.to_dict()}
    if objectives is not None:
        metrics["objectives"] = objective_metrics
    return NCFTrainingResult(served, saved_config, {**metrics, "reports": reports}, time.perf_counter() - started,
                             held_out_scores)


def _objective_sides(network: NCFNetwork, order_model: NCFModel, data: InteractionData,
                     objectives: Mapping[str, Positives], config: NCFTrainingConfig,
                     progress: Progress | None) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict]]:
    """Each objective's service side (its arrays) trained from the served `network` (exported as
    `order_model`), and what it measured on each user's latest positive of the objective, beside
    the order model and the objective's popularity."""
    rng = np.random.default_rng(config.ncf.seed)
    length = config.ncf.history_length
    windows = latest_windows(data.user_rows, data.service_rows, data.order, data.n_users, length, data.n_services)
    served_history = np.where(windows == data.n_services, -1, windows)  # as ncf_score_users reads it
    sides, measured = {}, {}
    for objective, positives in objectives.items():
        facts = {"positives": len(positives), "users": int(np.unique(positives.users).size)}
        reason = why_not_trained(positives, data, config.objective_min_positives)
        if reason:
            measured[objective] = {**facts, "trained": False, "reason": reason}
            continue
        fit = fit_objective_side(network, positives, windows, data.recommendable, config.ncf,
                                 config.objective_epochs, renamed(progress, f"ncf_{objective}"), rng)
        split = fit.split
        popularity = fit_popularity_baseline(split.train_users, split.train_items, data.n_users, data.n_services)
        validated = replace(order_model, objective_sides={objective: service_side(fit.validated)})
        scorers = {"NCF": ncf_score_users(validated.for_objective(objective), served_history),
                   "NCF order model": ncf_score_users(order_model, served_history),
                   "Popularity": popularity.score_users}
        measured[objective] = {**facts, "trained": True, "best_epoch": fit.best_epoch,
                               "seconds": round(fit.seconds, 2),
                               **{name: ranking_metrics(score, split, data.recommendable, config.k,
                                                        seed=config.evaluation_seed)
                                  for name, score in scorers.items()}}
        sides[objective] = service_side(refit_objective_side(
            network, positives, windows, data.recommendable, config.ncf, fit.best_epoch,
            renamed(progress, f"ncf_{objective}_serving"), rng))
    return sides, measured
