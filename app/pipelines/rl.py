"""The RL training pipeline, as one Celery job runs it: extract → simulate → train → evaluate → register
→ validate model (activate when not worse), like the NCF pipeline (app/pipelines/ncf.py).

- extract: the snapshot's state encoder (service autoencoder embeddings) and every stored SARS
  transition (app/pipelines/sars_store.py), encoded again with it.
- simulate: while real transitions are fewer than `simulated_fill_threshold`, the rest are simulated
  on a marketplace made of the snapshot itself (`snapshot_marketplace`): its recommendable services
  with their embeddings, first category and domain and popularity; its users with their declared
  features, the first part of their taken services as the history every policy sees and the last
  part (`held_out_share`) as what they would really take. Panels are shown to the training users
  by an epsilon-greedy popularity policy (known propensities). Simulated and real transitions share
  the encoder and the reward table, so they mean the same thing.
- train: TD3 on both; progress every `log_every` updates with the critic loss. With the popularity
  prior (the default), the actor's scores add each service's log share of takers, counted on the
  visible histories only (what the Popularity baseline counts: no held-out taking leaks in).
- evaluate: the reward per panel of the new policy, Popularity and Random on the same simulated
  visitors (the evaluation users, whom the fill never showed a panel), each mean with its 95%
  interval, and RL − each baseline as a paired difference with its interval; IPS and SNIPS (item
  level) on the real transitions whose propensities were logged.
- validate model: activate only when RL beats Random and Popularity beyond the interval (the lower
  bound of RL − baseline is above 0) and, with ACTIVATE_ONLY_IF_NOT_WORSE, its simulated reward (and
  SNIPS, when both have one) is not worse than the active RL version's, measured again now on the
  same simulated visitors and logged data. Otherwise the version is registered `rejected`; either
  way `metrics["gate"]` says why.

Idempotent per (snapshot, config): a finished run for the same pair is returned as it is.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np
from flask import current_app

from app import model_registry
from app.engines.rl import RL, RLModel, StateEncoder
from app.pipelines.run import StepClock, plan_run
from app.pipelines.sars_store import load_transitions, snapshot_context
from app.progress import Progress, no_progress
from app.rl.evaluation import (
    BASELINES,
    GATE_METRIC,
    describe,
    evaluate_policy,
    finite,
    interval,
    off_policy_estimates,
    short_of_baselines,
    simulated_rewards,
)
from app.rl.export import export_rl_model
from app.rl.ope import mean_estimate, paired_difference
from app.rl.policies import engine_policy
from app.rl.td3 import fit_td3
from app.rl.training import RLTrainingConfig, fresh_marketplace, training_catalogue, with_simulated
from app.storage.models import ModelVersion
from app.storage.raw_dumps import raw_dump
from app.training.plots import reward_chart, rl_training_curves

STEPS = {"extract": (0, 8), "simulate": (8, 12), "train": (12, 85), "evaluate": (85, 95),
         "register": (95, 97), "validate model": (97, 100)}


def _active_measured_now(version: ModelVersion, dump: Mapping, encoder: StateEncoder, config: RLTrainingConfig,
                         new_per_panel: np.ndarray) -> dict:
    """The active version's simulated reward and SNIPS, on the new version's visitors and logged panels
    (its own encoder reads the logged transitions' ids), and new − active paired on those visitors."""
    model = RLModel.from_arrays(model_registry.load_arrays(version), version.params)
    per_panel = simulated_rewards({"RL": engine_policy(RL(model))}, dump, encoder, config)["RL"]
    candidates = fresh_marketplace(dump, encoder, config).service_ids
    ope = off_policy_estimates(model, load_transitions(model.encoder, config.td3.k), candidates)
    difference = paired_difference(new_per_panel, per_panel)
    return {"model_id": str(version.id), GATE_METRIC: mean_estimate(per_panel).value, "snips": ope and ope["snips"],
            "new_minus_active": {"difference": difference.value, "interval": interval(difference)}}


def validate_rl_version(version: ModelVersion, dump: Mapping, encoder: StateEncoder, config: RLTrainingConfig,
                        new_per_panel: np.ndarray) -> tuple[str, dict]:
    """Activate the version or register it `rejected`; returns the outcome and the gate's record.

    The baselines are always checked. The active RL version, when there is one, is measured again
    only with ACTIVATE_ONLY_IF_NOT_WORSE (off: the newest version that beats the baselines serves)."""
    metrics = version.metrics
    gate = {"baselines": {base: metrics["rl_minus"][base] for base in BASELINES}, "active": None}
    short = short_of_baselines(metrics)
    reason = None
    if short:
        reason = f"does not beat {' and '.join(short)} beyond the 95% interval: {describe(metrics, short)}"
    current = model_registry.active_version("RL")
    if reason is None and current is not None and current_app.config["ACTIVATE_ONLY_IF_NOT_WORSE"]:
        active = gate["active"] = _active_measured_now(current, dump, encoder, config, new_per_panel)
        new_snips = (metrics.get("ope") or {}).get("snips")
        if metrics[GATE_METRIC] < active[GATE_METRIC]:
            reason = (f"worse than the active version {active['model_id']} on the same visitors: "
                      f"{metrics[GATE_METRIC]:.4f} < {active[GATE_METRIC]:.4f}")
        elif new_snips is not None and active["snips"] is not None and new_snips < active["snips"]:
            reason = (f"SNIPS worse than the active version {active['model_id']}: "
                      f"{new_snips:.4f} < {active['snips']:.4f}")
    if reason is not None:
        version.update(status="rejected")
        return "rejected", {**gate, "outcome": "rejected", "reason": reason}
    model_registry.activate(version)
    return "activated", {**gate, "outcome": "activated",
                         "reason": f"beats {' and '.join(BASELINES)} beyond the 95% interval: "
                                   f"{describe(metrics, list(BASELINES))}"}


def _extract(snapshot_id: str, config: RLTrainingConfig):
    encoder, _ = snapshot_context(snapshot_id, config.embedding, config.history_length)
    return raw_dump(snapshot_id), encoder, load_transitions(encoder, config.td3.k)


def run_rl_pipeline(snapshot_id: str | None = None, config: RLTrainingConfig | None = None,
                    progress: Progress = no_progress, job_id: str | None = None) -> dict:
    """Train, evaluate, register and (if it passes the gate) activate an RL version; idempotent per
    (snapshot, config): a finished run for the same pair is returned as it is."""
    config = config or RLTrainingConfig()
    snapshot_id, digest, existing = plan_run("RL", snapshot_id, config)
    if existing:
        return existing
    clock = StepClock(STEPS, progress)
    dump, encoder, real = clock.run("extract", lambda: _extract(snapshot_id, config), snapshot_id=snapshot_id)
    batch = clock.run("simulate", lambda: with_simulated(real, dump, encoder, config))
    agent, report = clock.run("train", lambda: fit_td3(batch, config.td3, clock.training_progress,
                                                        training_catalogue(dump, encoder, config)))
    model = export_rl_model(agent, encoder)
    evaluation, rl_per_panel = clock.run("evaluate", lambda: evaluate_policy(model, dump, encoder, real, config))
    data = {"real_transitions": 0 if real is None else len(real), "simulated_transitions": len(batch) - (
        0 if real is None else len(real)), "services": int(encoder.service_ids.size)}
    curve = {"critic_loss": [finite(v) for v in report.critic_loss], "actor_loss": [finite(v) for v in
             report.actor_loss], "mean_q": [finite(v) for v in report.mean_q], "log_every": config.td3.log_every}
    summary = {**evaluation, "data": data, "curve": curve, "steps": clock.steps}
    version = clock.run("register", lambda: model_registry.register(
        "RL", model.to_arrays(), model.params(), dataset_id=snapshot_id, config={**asdict(config), "digest": digest},
        metrics=summary, job_id=job_id, training_seconds=report.seconds))
    model_registry.add_plot(version, "training", rl_training_curves(
        [v for v in report.critic_loss if math.isfinite(v)], [v for v in report.actor_loss if math.isfinite(v)],
        config.td3.log_every))
    model_registry.add_plot(version, "rewards", reward_chart(evaluation["simulated_rewards"]))
    outcome, gate = clock.run("validate model",
                              lambda: validate_rl_version(version, dump, encoder, config, rl_per_panel))
    version.update(set__metrics__steps=clock.steps, set__metrics__gate=gate)  # with the last steps
    return {"status": outcome, "model_id": str(version.id), "snapshot_id": snapshot_id,
            GATE_METRIC: evaluation[GATE_METRIC], "gate": gate["reason"], "steps": clock.steps}
