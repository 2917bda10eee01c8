"""A trained NCF (torch) as the plain arrays the serving engine loads, and a scorer for evaluation."""
from __future__ import annotations

import numpy as np
from torch import nn

from app.engines.ncf import NCFModel, NCFParams, NCFScorer
from app.training.autoencoder import FeatureAutoencoder, encoder_layers
from app.training.evaluation import ScoreUsers
from app.training.features import MultiHotEncoder
from app.training.ncf_network import NCFNetwork


def _numpy(tensor) -> np.ndarray:
    # C order: a transposed view would take other BLAS paths than the loaded copy, and round differently.
    return np.ascontiguousarray(tensor.detach().numpy(), dtype=np.float32).copy()


def export_ncf(model: NCFNetwork, user_ids: np.ndarray, service_ids: np.ndarray, user_autoencoder: FeatureAutoencoder,
               user_features: MultiHotEncoder, similarity_threshold: float = 0.5) -> NCFModel:
    """The serving model: (u,) sorted user ids and (s,) sorted service ids name the model's rows;
    the user autoencoder and encoder let the engine score visitors known only by their features.
    A model without a history term exports neither the history table nor a history length, as
    models saved before the term have neither. It has no objective sides (`service_side` gives one)."""
    if not (np.all(np.diff(user_ids) > 0) and np.all(np.diff(service_ids) > 0)):
        raise ValueError("user_ids and service_ids must be sorted and unique: they are the engine's index")
    linear = [layer for layer in model.mlp if isinstance(layer, nn.Linear)]
    encoder = encoder_layers(user_autoencoder)
    vocabulary_field, vocabulary_value, vocabulary_column = user_features.integer_vocabulary()
    history_length = model.config.history_length
    return NCFModel(
        hyperparameters=NCFParams(tuple(user_features.fields), similarity_threshold, history_length),
        user_ids=np.asarray(user_ids, np.int64), service_ids=np.asarray(service_ids, np.int64),
        user_gmf=_numpy(model.user_gmf.weight), user_mlp=_numpy(model.user_mlp.weight),
        user_content=_numpy(model.user_content),
        service_gmf=_numpy(model.item_gmf.weight[:-1]), service_mlp=_numpy(model.item_mlp.weight[:-1]),
        service_content=_numpy(model.item_content),
        mlp_weight=tuple(_numpy(layer.weight.T) for layer in linear),
        mlp_bias=tuple(_numpy(layer.bias) for layer in linear),
        head_weight=_numpy(model.head.weight[0]), head_bias=_numpy(model.head.bias),
        user_encoder_weight=tuple(weight for weight, _ in encoder),
        user_encoder_bias=tuple(bias for _, bias in encoder),
        user_vocabulary_field=vocabulary_field, user_vocabulary_value=vocabulary_value,
        user_vocabulary_column=vocabulary_column,
        service_history_gmf=_numpy(model.history_gmf.weight[:-1]) if history_length else None,
    )


def service_side(network: NCFNetwork) -> dict[str, np.ndarray]:
    """The arrays an objective's side holds of its own (`NCFModel.objective_sides`)."""
    return {"service_gmf": _numpy(network.item_gmf.weight[:-1]), "service_mlp": _numpy(network.item_mlp.weight[:-1]),
            "head_weight": _numpy(network.head.weight[0]), "head_bias": _numpy(network.head.bias)}


def ncf_score_users(model: NCFModel, history: np.ndarray | None = None, users_per_batch: int = 32) -> ScoreUsers:
    """`score_users` for `ranking_metrics`: every service's score for trained user rows, through the
    serving code path (a few users at a time: the hidden layer is users × services × width). With
    a history term, each user row is scored with its (L,) row of `history` (service rows taken last,
    -1 for none; `app.training.ncf.latest_windows`)."""
    scorer = NCFScorer(model)

    def score_users(user_rows: np.ndarray) -> np.ndarray:
        parts = []
        for start in range(0, len(user_rows), users_per_batch):
            rows = np.asarray(user_rows[start:start + users_per_batch])
            gmf, first = scorer.user_vector(rows, history=None if history is None else history[rows])
            parts.append(scorer.scores(gmf, first))  # every service
        return np.concatenate(parts) if parts else np.zeros((0, model.service_ids.size))

    return score_users
