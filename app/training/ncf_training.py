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
from dataclasses import asdict, dataclass, field

from app.engines.ncf import NCFModel
from app.progress import Progress
from app.training.autoencoder import AutoencoderConfig, encode, fit_autoencoder
from app.training.dataset import InteractionData
from app.training.evaluation import ScoreUsers, leave_last_out, ranking_metrics
from app.training.ncf import fit_ncf
from app.training.ncf_examples import latest_windows
from app.training.ncf_export import export_ncf, ncf_score_users
from app.training.ncf_fit import renamed
from app.training.ncf_network import NCFConfig


@dataclass
class NCFTrainingConfig:
    """Everything one run is configured by; saved beside the weights as JSON."""

    user_autoencoder: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(embedding_dim=64))
    service_autoencoder: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(embedding_dim=128))
    ncf: NCFConfig = field(default_factory=NCFConfig)
    k: int = 10  # the cut-off of the reported metrics
    evaluation_seed: int = 0  # draws the 100 sampled negatives
    refit_on_all: bool = True  # serve a model fitted on every interaction, not the evaluated one


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
              progress: Progress | None = None) -> NCFTrainingResult:
    """Fit both autoencoders and NCF, evaluate on held-out latest interactions, export for serving."""
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
    served, refit_report = evaluated, None
    if config.refit_on_all:
        model, refit_report = fit_ncf(data.user_rows, data.service_rows, data.order, user_content,
                                      service_content, data.recommendable, config.ncf,
                                      renamed(progress, "ncf_serving"), epochs=ncf_report.best_epoch)
        served = export_ncf(model, data.users.ids, data.services.ids, user_autoencoder, data.user_encoder)
    reports = {"user_autoencoder": asdict(user_report), "service_autoencoder": asdict(service_report),
               "ncf": asdict(ncf_report), "ncf_serving": asdict(refit_report) if refit_report else None}
    saved_config = {**asdict(config), "user_features": data.user_encoder.to_dict(),
                    "service_features": data.service_encoder.to_dict()}
    return NCFTrainingResult(served, saved_config, {**metrics, "reports": reports}, time.perf_counter() - started,
                             held_out_scores)
