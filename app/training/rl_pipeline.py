"""The RL training pipeline, as one Celery job runs it: extract → simulate → train → evaluate → register
→ validate model (activate when not worse), like the NCF pipeline (app/training/pipeline.py).

- extract: the snapshot's state encoder (service autoencoder embeddings) and every stored SARS
  transition (app/training/sars_store.py), encoded again with it.
- simulate: while real transitions are fewer than `simulated_fill_threshold`, the rest are simulated
  on a marketplace made of the snapshot itself: its recommendable services with their embeddings and
  first category and domain, its users with their declared features and taken services, shown panels
  by an epsilon-greedy popularity policy (known propensities). Simulated and real transitions share
  the encoder and the reward table, so they mean the same thing.
- train: TD3 on both; progress every `log_every` updates with the critic loss.
- evaluate: mean reward per panel of the new policy, Popularity and Random on the same simulated
  visitors; IPS and SNIPS (item level) on the real transitions whose propensities were logged.
- validate model: activate when the simulated reward (and SNIPS, when both have one) is not worse
  than the active RL version's, measured again now on the same simulated visitors and logged data.

Idempotent per (snapshot, config): a finished run for the same pair is returned as it is.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from flask import current_app

from app import model_registry
from app.engines.rl import RL, RLModel, StateEncoder
from app.marketplace.dumps import raw_dump
from app.rl.export import export_rl_model
from app.rl.ope import ips, snips
from app.rl.policies import engine_policy, epsilon_greedy_policy, greedy_panel, uniform_policy
from app.rl.rewards import load_reward_table
from app.rl.sars import SarsBatch
from app.rl.selector import select_ids
from app.rl.simulator import SyntheticMarketplace, simulate_panels
from app.rl.td3 import TD3Config, fit_td3
from app.storage.models import ModelVersion
from app.training.autoencoder import AutoencoderConfig
from app.training.dataset import RECOMMENDABLE_STATUSES
from app.training.pipeline import DataRejected, StepClock, plan_run
from app.training.plots import reward_chart, rl_training_curves
from app.training.sars_store import EMBEDDING_CONFIG, load_transitions, snapshot_context

GATE_METRIC = "simulated_reward"
RL_STEP_SPANS = {"extract": (0, 8), "simulate": (8, 12), "train": (12, 85), "evaluate": (85, 95),
                 "register": (95, 97), "validate model": (97, 100)}


@dataclass
class RLTrainingConfig:
    """Everything one run is configured by; saved beside the weights as JSON."""

    td3: TD3Config = field(default_factory=TD3Config)
    embedding: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(**asdict(EMBEDDING_CONFIG)))
    history_length: int = 10
    simulated_fill_threshold: int = 2000  # fewer real transitions than this are topped up with simulated ones
    logging_epsilon: float = 0.3  # the simulated logging policy's share of uniform random panels
    evaluation_episodes: int = 300  # simulated panels per evaluated policy
    simulation_seed: int = 0
    evaluation_seed: int = 1  # not the fill's: the policy is judged on visits it was not trained on


class RLStepClock(StepClock):
    """StepClock with the RL pipeline's steps; keeps TD3's critic-loss curve."""

    spans = RL_STEP_SPANS

    def training_progress(self, step: str, percent: float, **details) -> None:
        """Map TD3's percent into the train span (reported every `log_every` updates)."""
        low, high = self.spans["train"]
        self.progress("train", low + (high - low) * percent / 100, phase=step, **details)


# --- The snapshot as a simulated marketplace ------------------------------------------

def _first(values) -> int:
    return int(values[0]) if values else -1  # -1: matches no user's category or domain


def snapshot_marketplace(dump: Mapping, encoder: StateEncoder) -> SyntheticMarketplace:
    """The snapshot's recommendable services and its users, as the simulator's marketplace."""
    services = sorted((s for s in dump["services"] if s.get("status") in RECOMMENDABLE_STATUSES),
                      key=lambda s: int(s["id"]))
    ids = np.array([int(s["id"]) for s in services], np.int64)
    embeddings, known = encoder.embeddings_of(ids)
    services, ids, embeddings = [s for s, k in zip(services, known) if k], ids[known], embeddings[known]
    if ids.size == 0:
        raise DataRejected("no recommendable service to train RL on", {"services": "none recommendable"})
    offered = set(ids.tolist())
    users = sorted(dump["users"], key=lambda u: int(u["id"]))
    return SyntheticMarketplace(
        service_ids=ids, embeddings=embeddings.astype(np.float32),
        service_category=np.array([_first(s.get("categories")) for s in services], np.int64),
        service_domain=np.array([_first(s.get("scientific_domains")) for s in services], np.int64),
        user_categories=[tuple(int(c) for c in u.get("categories") or ()) for u in users],
        user_domain=np.array([_first(u.get("scientific_domains")) for u in users], np.int64),
        histories=[[int(s) for s in u.get("accessed_services") or () if int(s) in offered] for u in users],
        ordered=[set() for _ in users])


def popularity_of(dump: Mapping) -> dict[int, float]:
    """How many users took each service."""
    return dict(Counter(int(s) for u in dump["users"] for s in set(u.get("accessed_services") or ())))


def _fresh(dump: Mapping, encoder: StateEncoder) -> SyntheticMarketplace:
    # The simulator changes the histories it plays: every policy starts from the same marketplace.
    return snapshot_marketplace(dump, encoder)


# --- Evaluation -------------------------------------------------------------------------

def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def simulated_rewards(policies: Mapping[str, Callable], dump: Mapping, encoder: StateEncoder,
                      config: RLTrainingConfig) -> dict[str, float]:
    """Mean reward per panel of each policy, on the same simulated visitors (same marketplace and seed)."""
    table = load_reward_table()
    return {name: simulate_panels(policy, _fresh(dump, encoder), config.evaluation_episodes, config.td3.k,
                                  config.evaluation_seed, table, encoder).mean_reward
            for name, policy in policies.items()}


def off_policy_estimates(model: RLModel, real: SarsBatch | None, candidates: np.ndarray) -> dict | None:
    """IPS and SNIPS of the model's mean item reward on the logged panels whose propensities are known
    (item level: the model shows a logged item or not); None when no such item was logged."""
    if real is None:
        return None
    logged = (real.action_ids >= 0) & np.isfinite(real.propensities) & (real.propensities > 0)  # (n, K)
    if not logged.any():
        return None
    shown = np.zeros(logged.shape, np.float64)
    for row in np.flatnonzero(logged.any(axis=1)):
        weights = model.slot_weights(real.states[row], real.action_ids.shape[1])
        chosen, _ = select_ids(weights, model.service_ids, model.encoder.service_embeddings, candidates)
        shown[row] = np.isin(real.action_ids[row], chosen)
    rewards, target, logging = real.item_rewards[logged], shown[logged], real.propensities[logged]
    ips_estimate, snips_estimate = ips(rewards, target, logging), snips(rewards, target, logging)
    return {"items": int(logged.sum()), "logged_mean_item_reward": float(rewards.mean()),
            "ips": _finite(ips_estimate.value), "ips_interval": [_finite(ips_estimate.low), _finite(ips_estimate.high)],
            "snips": _finite(snips_estimate.value),
            "snips_interval": [_finite(snips_estimate.low), _finite(snips_estimate.high)]}


def _evaluate(model: RLModel, dump: Mapping, encoder: StateEncoder, real: SarsBatch | None,
              config: RLTrainingConfig) -> dict:
    popularity = popularity_of(dump)
    rewards = simulated_rewards({
        "RL": engine_policy(RL(model)),
        "Popularity": lambda request: (greedy_panel(popularity, request), np.ones(config.td3.k)),
        "Random": uniform_policy}, dump, encoder, config)
    candidates = _fresh(dump, encoder).service_ids
    return {GATE_METRIC: rewards["RL"], "simulated_rewards": rewards,
            "ope": off_policy_estimates(model, real, candidates)}


# --- Gated activation ----------------------------------------------------------------------

def _active_measured_now(version: ModelVersion, dump: Mapping, encoder: StateEncoder,
                         config: RLTrainingConfig) -> dict:
    """The active version's simulated reward and SNIPS, on the new version's visitors and logged panels
    (its own encoder reads the logged transitions' ids)."""
    model = RLModel.from_arrays(model_registry.load_arrays(version), version.params)
    reward = simulated_rewards({"RL": engine_policy(RL(model))}, dump, encoder, config)["RL"]
    ope = off_policy_estimates(model, load_transitions(model.encoder, config.td3.k), _fresh(dump, encoder).service_ids)
    return {"model_id": str(version.id), GATE_METRIC: reward, "snips": ope and ope["snips"]}


def _activate_if_not_worse(version: ModelVersion, dump: Mapping, encoder: StateEncoder,
                           config: RLTrainingConfig) -> tuple[str, dict | None]:
    current = model_registry.active_version("RL")
    if current is None or not current_app.config["ACTIVATE_ONLY_IF_NOT_WORSE"]:
        model_registry.activate(version)
        return "activated", None
    active = _active_measured_now(current, dump, encoder, config)
    new_snips = (version.metrics.get("ope") or {}).get("snips")
    worse = version.metrics[GATE_METRIC] < active[GATE_METRIC] or (
        new_snips is not None and active["snips"] is not None and new_snips < active["snips"])
    if worse:
        version.update(status="rejected")
        return "rejected", active
    model_registry.activate(version)
    return "activated", active


# --- The pipeline ---------------------------------------------------------------------------

def _extract(snapshot_id: str, config: RLTrainingConfig):
    encoder, _ = snapshot_context(snapshot_id, config.embedding, config.history_length)
    return raw_dump(snapshot_id), encoder, load_transitions(encoder, config.td3.k)


def _with_simulated(real: SarsBatch | None, dump: Mapping, encoder: StateEncoder,
                    config: RLTrainingConfig) -> SarsBatch:
    """The real transitions, topped up with simulated ones up to the threshold."""
    have = 0 if real is None else len(real)
    if have >= config.simulated_fill_threshold:
        return real
    logging_policy = epsilon_greedy_policy(popularity_of(dump), config.logging_epsilon)
    simulated = simulate_panels(logging_policy, _fresh(dump, encoder), config.simulated_fill_threshold - have,
                                config.td3.k, config.simulation_seed, load_reward_table(), encoder).batch
    return simulated if real is None else SarsBatch.concatenate([real, simulated])


def run_rl_pipeline(snapshot_id: str | None = None, config: RLTrainingConfig | None = None,
                    progress: Callable = lambda *a, **k: None, job_id: str | None = None) -> dict:
    """Train, evaluate, register and (if not worse) activate an RL version; idempotent per
    (snapshot, config): a finished run for the same pair is returned as it is."""
    config = config or RLTrainingConfig()
    snapshot_id, digest, existing = plan_run("RL", snapshot_id, config)
    if existing:
        return existing
    clock = RLStepClock(progress)
    dump, encoder, real = clock.run("extract", lambda: _extract(snapshot_id, config), snapshot_id=snapshot_id)
    batch = clock.run("simulate", lambda: _with_simulated(real, dump, encoder, config))
    agent, report = clock.run("train", lambda: fit_td3(batch, config.td3, clock.training_progress))
    model = export_rl_model(agent, encoder)
    evaluation = clock.run("evaluate", lambda: _evaluate(model, dump, encoder, real, config))
    data = {"real_transitions": 0 if real is None else len(real), "simulated_transitions": len(batch) - (
        0 if real is None else len(real)), "services": int(encoder.service_ids.size)}
    curve = {"critic_loss": [_finite(v) for v in report.critic_loss], "actor_loss": [_finite(v) for v in
             report.actor_loss], "mean_q": [_finite(v) for v in report.mean_q], "log_every": config.td3.log_every}
    summary = {**evaluation, "data": data, "curve": curve, "steps": clock.steps}
    version = clock.run("register", lambda: model_registry.register(
        "RL", model.to_arrays(), model.params(), dataset_id=snapshot_id, config={**asdict(config), "digest": digest},
        metrics=summary, job_id=job_id, training_seconds=report.seconds))
    model_registry.add_plot(version, "training", rl_training_curves(
        [v for v in report.critic_loss if math.isfinite(v)], [v for v in report.actor_loss if math.isfinite(v)],
        config.td3.log_every))
    model_registry.add_plot(version, "rewards", reward_chart(evaluation["simulated_rewards"]))
    outcome, active = clock.run("validate model", lambda: _activate_if_not_worse(version, dump, encoder, config))
    version.update(set__metrics__steps=clock.steps, set__metrics__gate=active)  # with the last steps
    return {"status": outcome, "model_id": str(version.id), "snapshot_id": snapshot_id,
            GATE_METRIC: evaluation[GATE_METRIC], "steps": clock.steps}
