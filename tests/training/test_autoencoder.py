"""Autoencoders: held-out rows reported on, deterministic in eval mode, seeded."""
from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from app.training.autoencoder import (
    AutoencoderConfig,
    encode,
    encoder_layers,
    fit_autoencoder,
)

SMALL = AutoencoderConfig(embedding_dim=8, hidden_dim=32, epochs=40, batch_size=32, patience=40, seed=3)


def clustered_features(rows: int = 200, width: int = 24, seed: int = 0) -> np.ndarray:
    """Four kinds of rows, each setting most of its own six columns and now and then a stray one."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4, rows)
    features = np.zeros((rows, width), np.float32)
    for row, k in enumerate(kind):
        features[row, 6 * k + np.flatnonzero(rng.random(6) < 0.8)] = 1.0
        if rng.random() < 0.2:
            features[row, rng.integers(0, width)] = 1.0
    return features


@cache
def fitted():
    """One fit shared by the tests that only look at its result."""
    return fit_autoencoder(clustered_features(), SMALL)


def test_held_out_rows_are_reconstructed_better_than_chance():
    model, report = fitted()
    assert report.validation_rows == 20 and report.train_rows == 180
    assert report.validation_auc > 0.85
    assert report.validation_loss < 0.5
    assert not model.training


def test_eval_mode_is_deterministic_despite_input_dropout():
    features = clustered_features()
    model, _ = fitted()
    first, second = encode(model, features), encode(model, features)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (200, 8) and first.dtype == np.float32
    model.train()  # encode() must switch dropout off by itself
    np.testing.assert_array_equal(encode(model, features), first)
    assert not model.training


def test_the_same_seed_gives_the_same_model():
    features, config = clustered_features(rows=40), replace(SMALL, epochs=3)
    one, _ = fit_autoencoder(features, config)
    two, _ = fit_autoencoder(features, config)
    for (w1, b1), (w2, b2) in zip(encoder_layers(one), encoder_layers(two)):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(b1, b2)


def test_exported_encoder_layers_match_the_torch_encoder():
    features = clustered_features()
    model, _ = fitted()
    (w0, b0), (w1, b1) = encoder_layers(model)
    by_numpy = np.tanh(np.maximum(features @ w0 + b0, 0.0) @ w1 + b1)
    np.testing.assert_allclose(by_numpy, encode(model, features), atol=1e-5)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_no_features_gives_a_constant_embedding():
    model, report = fit_autoencoder(np.zeros((30, 0), np.float32), SMALL)
    assert report.epochs == 0 and report.validation_auc is None
    embeddings = encode(model, np.zeros((3, 0), np.float32))
    assert embeddings.shape == (3, 8)
    np.testing.assert_array_equal(embeddings[0], embeddings[2])


def test_early_stopping_keeps_the_best_epoch():
    features = clustered_features(rows=60)
    config = AutoencoderConfig(embedding_dim=8, hidden_dim=32, epochs=500, batch_size=16, patience=2,
                               learning_rate=0.05, seed=1)
    _, report = fit_autoencoder(features, config)
    assert report.epochs < 500
