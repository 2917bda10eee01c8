"""From training to serving: the state encoder of a catalogue, and a TD3 agent as RLModel arrays + params.

Weights travel as safetensors with the TD3Config as JSON beside them (no pickle);
`RLModel.from_arrays(model.to_arrays(), model.params())` is what the service loads.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from app.engines.rl import RLModel, RLParams, StateEncoder
from app.rl.td3 import Catalogue, TD3Agent, TD3Config

USER_FEATURE_FIELDS = ("categories", "scientific_domains")


def state_encoder(service_ids: np.ndarray, embeddings: np.ndarray,
                  service_features: Mapping[str, Mapping[int, Sequence[int]]], history_length: int = 10,
                  fields: Sequence[str] = USER_FEATURE_FIELDS) -> StateEncoder:
    """The encoder of a catalogue: (s,) ids, (s, d) embeddings (e.g. the service autoencoder's), and per
    user field the services' values ({"categories": {service id: [category ids]}}); a value's vector is
    the mean embedding of the services that have it."""
    order = np.argsort(service_ids)
    service_ids, embeddings = np.asarray(service_ids, np.int64)[order], np.asarray(embeddings, np.float32)[order]
    row_of = {int(s): i for i, s in enumerate(service_ids)}
    field_positions, values, vectors = [], [], []
    for position, name in enumerate(fields):
        members: dict[int, list[int]] = {}
        for service, service_values in service_features.get(name, {}).items():
            if int(service) in row_of:
                for value in service_values:
                    members.setdefault(int(value), []).append(row_of[int(service)])
        for value in sorted(members):
            field_positions.append(position)
            values.append(value)
            vectors.append(embeddings[members[value]].mean(axis=0))
    d = embeddings.shape[1]
    return StateEncoder(service_ids, embeddings, np.array(field_positions, np.int64), np.array(values, np.int64),
                        np.array(vectors, np.float32).reshape(-1, d), history_length, tuple(fields))


def popularity_prior(service_ids: np.ndarray, takers: Mapping[int, int], users: int) -> np.ndarray:
    """(s,) float32 log share of users who took each service, log((takers + 1) / (users + 1)): smoothed, so
    a service nobody took has a finite prior below every taken one."""
    counts = np.array([takers.get(int(s), 0) for s in np.asarray(service_ids).tolist()], np.float64)
    return np.log((counts + 1.0) / (max(users, 0) + 1.0)).astype(np.float32)


def prior_catalogue(encoder: StateEncoder, takers: Mapping[int, int], users: int) -> Catalogue:
    """The encoder's services with their embeddings and popularity prior, for a residual actor."""
    return Catalogue(encoder.service_ids, encoder.service_embeddings,
                     popularity_prior(encoder.service_ids, takers, users))


def export_rl_model(agent: TD3Agent, encoder: StateEncoder) -> RLModel:
    """The agent's actor as numpy (in, out) layers, with the encoder it was trained with (and the prior
    its scores add, aligned with the encoder's services, when it has one)."""
    linear = [layer for layer in agent.actor.layers if hasattr(layer, "weight")]
    weights = tuple(layer.weight.detach().numpy().T.astype(np.float32).copy() for layer in linear)
    biases = tuple(layer.bias.detach().numpy().astype(np.float32).copy() for layer in linear)
    params = RLParams(k_max=agent.config.k, history_length=encoder.history_length,
                      history_skip=agent.config.history_skip, user_feature_fields=encoder.user_feature_fields)
    prior = None if agent.catalogue is None else agent.catalogue.prior_of(encoder.service_ids)
    return RLModel(params, encoder, weights, biases, prior)


def save_agent(agent: TD3Agent, directory: str | Path) -> None:
    """Every network's weights and the catalogue of a residual actor (agent.safetensors), and the config
    with the sizes (config.json)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"{name}.{key}": value.contiguous() for name in _NETWORKS
               for key, value in getattr(agent, name).state_dict().items()}
    if agent.catalogue is not None:
        tensors |= {f"catalogue.{name}": torch.as_tensor(np.ascontiguousarray(getattr(agent.catalogue, name)))
                    for name in _CATALOGUE}
    save_file(tensors, str(directory / "agent.safetensors"))
    (directory / "config.json").write_text(json.dumps(
        {"config": asdict(agent.config), "state_size": agent.state_size, "embedding_size": agent.embedding_size}))


def load_agent(directory: str | Path) -> TD3Agent:
    """The agent `save_agent` wrote (optimiser state is not kept: resume trains with fresh moments)."""
    directory = Path(directory)
    saved = json.loads((directory / "config.json").read_text())
    # An agent saved before the history prior and the anchor existed was trained without them;
    # one saved with a field since dropped still loads.
    saved_config = {"history_skip": False, "anchor_alpha": None, **saved["config"]}
    known = {f.name for f in fields(TD3Config)}
    config = TD3Config(**{name: value for name, value in saved_config.items() if name in known})
    tensors = load_file(str(directory / "agent.safetensors"))
    catalogue = Catalogue(*(tensors[f"catalogue.{name}"].numpy() for name in _CATALOGUE)) \
        if config.popularity_prior else None
    agent = TD3Agent(saved["state_size"], saved["embedding_size"], config, catalogue)
    for name in _NETWORKS:
        prefix = f"{name}."
        getattr(agent, name).load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return agent


_CATALOGUE = ("service_ids", "embeddings", "prior")
_NETWORKS = ("actor", "critic1", "critic2", "actor_target", "critic1_target", "critic2_target")
