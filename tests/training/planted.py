"""A small marketplace dump with a planted preference, for training tests.

Two kinds of users and two kinds of services: odd users declare category 1 and
take services of category 1, even users declare category 2 and take category 2
services. Two category-2 services are drafts: nobody takes them and they must
never be anyone's negatives. Deterministic: one seeded generator draws all.
"""
from __future__ import annotations

import numpy as np

from app.training.autoencoder import AutoencoderConfig
from app.training.ncf_network import NCFConfig
from app.training.ncf_training import NCFTrainingConfig

GROUP_SERVICES = {1: tuple(range(101, 111)), 2: tuple(range(201, 211))}
DRAFTS = (209, 210)


def planted_dump(users: int = 60, taken: int = 6, seed: int = 0) -> dict:
    """Users 1..`users`, each having taken `taken` services of their own category in random order."""
    rng = np.random.default_rng(seed)
    services = [
        {"id": s, "name": f"service {s}", "status": "draft" if s in DRAFTS else "published",
         "categories": [group], "providers": [group], "resource_organisation": group,
         "scientific_domains": [10 + s % 3], "countries": ["PL" if group == 1 else "DE"], "horizontal": False}
        for group, ids in GROUP_SERVICES.items() for s in ids
    ]
    people = []
    for user in range(1, users + 1):
        group = 1 if user % 2 else 2
        takeable = [s for s in GROUP_SERVICES[group] if s not in DRAFTS]
        people.append({"id": user, "categories": [group], "scientific_domains": [20 + group],
                       "accessed_services": [int(s) for s in rng.permutation(takeable)[:taken]]})
    return {"services": services, "users": people}


def small_config(epochs: int = 25, seed: int = 0) -> NCFTrainingConfig:
    """Tiny networks, so that a whole run takes well under a second."""
    autoencoder = {"hidden_dim": 16, "epochs": 30, "batch_size": 32, "seed": seed}
    return NCFTrainingConfig(
        user_autoencoder=AutoencoderConfig(embedding_dim=8, **autoencoder),
        service_autoencoder=AutoencoderConfig(embedding_dim=8, **autoencoder),
        ncf=NCFConfig(gmf_dim=8, mlp_embedding_dim=8, mlp_layers=(16, 8), epochs=epochs, batch_size=128,
                      learning_rate=0.01, patience=epochs, id_dropout=0.2, seed=seed, members=1),
        k=3, refit_on_all=False)
