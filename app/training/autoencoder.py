"""Autoencoders that turn sparse multi-hot features into dense embeddings.

A user (categories, scientific domains) becomes e.g. a 64-d vector and a service
(categories, providers, platforms, ...) a 128-d one. The encoder is
dropout → linear → ReLU → linear → tanh: the input dropout makes it a denoising
autoencoder (it must rebuild the features from part of them), and tanh keeps the
embeddings bounded for the NCF content tower. The decoder mirrors it and outputs
one logit per feature; the loss is binary cross-entropy. Training stops early
when the loss on held-out rows stops improving, and keeps the best weights.

Thread count is the caller's choice (see benchmarks/quality.py).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import scipy.stats
import torch
from torch import nn

from app.progress import Progress


@dataclass
class AutoencoderConfig:
    """Architecture and training of one autoencoder; saved beside its weights."""

    embedding_dim: int = 64
    hidden_dim: int = 256
    input_dropout: float = 0.2
    epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-6
    validation_fraction: float = 0.1  # rows held out to stop early and to report on
    patience: int = 5  # epochs without a better validation loss before stopping
    seed: int = 0


@dataclass
class AutoencoderReport:
    """How fitting went; JSON-able through `dataclasses.asdict`."""

    train_rows: int
    validation_rows: int
    epochs: int
    train_loss: float | None
    validation_loss: float | None  # mean BCE per feature on held-out rows
    validation_auc: float | None  # held-out features' reconstruction probabilities vs the true bits
    seconds: float


class FeatureAutoencoder(nn.Module):
    def __init__(self, n_features: int, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = nn.Sequential(
            nn.Dropout(config.input_dropout), nn.Linear(n_features, config.hidden_dim), nn.ReLU(),
            nn.Linear(config.hidden_dim, config.embedding_dim), nn.Tanh())
        self.decoder = nn.Sequential(
            nn.Linear(config.embedding_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))  # (b, f) logits


def fit_autoencoder(features: np.ndarray, config: AutoencoderConfig,
                    progress: Progress | None = None) -> tuple[FeatureAutoencoder, AutoencoderReport]:
    """Fit on (n, f) multi-hot rows, holding out `validation_fraction` of them; returns the model
    (in eval mode, with the best validation weights) and a report."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    x = torch.as_tensor(np.asarray(features, np.float32))  # (n, f)
    model = FeatureAutoencoder(x.shape[1], config)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(x.shape[0])
    n_validation = round(config.validation_fraction * x.shape[0]) if x.shape[0] >= 10 else 0
    validation, train = x[order[:n_validation]], x[order[n_validation:]]
    if x.shape[1] == 0 or train.shape[0] == 0:  # nothing to learn: the encoder gives a constant
        return model.eval(), AutoencoderReport(train.shape[0], n_validation, 0, None, None, None,
                                               time.perf_counter() - started)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    best_loss, best_state, stale, epoch, train_loss = float("inf"), None, 0, 0, float("nan")
    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        for batch in torch.randperm(train.shape[0]).split(config.batch_size):
            loss = loss_fn(model(train[batch]), train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.numel()
        train_loss = total / train.shape[0]
        monitored = _loss(model, validation) if n_validation else train_loss
        if progress:
            progress("autoencoder", 100.0 * epoch / config.epochs, epoch=epoch, loss=train_loss,
                     validation_loss=monitored)
        if monitored < best_loss - 1e-5:
            best_loss, stale = monitored, 0
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    auc = reconstruction_auc(model, validation) if n_validation else None
    return model, AutoencoderReport(train.shape[0], n_validation, epoch, train_loss,
                                    _loss(model, validation) if n_validation else None, auc,
                                    time.perf_counter() - started)


def _loss(model: FeatureAutoencoder, x: torch.Tensor) -> float:
    model.eval()
    with torch.inference_mode():
        return nn.functional.binary_cross_entropy_with_logits(model(x), x).item()


def reconstruction_auc(model: FeatureAutoencoder, x: torch.Tensor) -> float | None:
    """ROC AUC of the reconstruction probabilities against the true bits (Mann-Whitney U)."""
    model.eval()
    with torch.inference_mode():
        scores = model(x).flatten().numpy()
    truth = x.flatten().numpy() > 0.5
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = scipy.stats.rankdata(scores)  # ties get their mean rank
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def encode(model: FeatureAutoencoder, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """(n, f) multi-hot rows → (n, embedding_dim) float32 embeddings (eval mode: no dropout)."""
    model.eval()
    x = torch.as_tensor(np.asarray(features, np.float32))
    with torch.inference_mode():
        parts = [model.encoder(batch) for batch in x.split(batch_size)] if x.shape[0] else []
    return torch.cat(parts).numpy() if parts else np.zeros((0, model.config.embedding_dim), np.float32)


def encoder_layers(model: FeatureAutoencoder) -> list[tuple[np.ndarray, np.ndarray]]:
    """The encoder's linear layers as ((in, out) float32 weight, (out,) float32 bias) pairs, for
    a numpy forward pass: ReLU between them, tanh after the last."""
    return [(layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy())
            for layer in model.encoder if isinstance(layer, nn.Linear)]


def config_dict(config: AutoencoderConfig) -> dict:
    """The config as JSON-able data."""
    return asdict(config)
