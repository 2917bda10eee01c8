"""The RL training pipeline, as one Celery job runs it: extract → simulate → train → evaluate → register
→ validate model (activate when not worse), like the NCF pipeline (app/training/ncf_pipeline.py).

- extract: the snapshot's state encoder (service autoencoder embeddings) and every stored SARS
  transition (app/training/sars_store.py), encoded again with it.
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
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from flask import current_app

from app import model_registry
from app.dump_contract import RECOMMENDABLE_STATUSES
from app.engines.rl import RL, RLModel, StateEncoder
from app.progress import Progress, no_progress
from app.rl.export import export_rl_model, prior_catalogue
from app.rl.ope import Estimate, ips, mean_estimate, paired_difference, snips
from app.rl.policies import engine_policy, epsilon_greedy_policy, greedy_panel, uniform_policy
from app.rl.rewards import load_reward_table
from app.rl.sars import SarsBatch
from app.rl.selector import select_ids
from app.rl.simulator import SyntheticMarketplace, simulate_panels
from app.rl.td3 import Catalogue, TD3Config, fit_td3
from app.storage.models import ModelVersion
from app.storage.raw_dumps import raw_dump
from app.training.autoencoder import AutoencoderConfig
from app.training.ncf_pipeline import DataRejected, StepClock, plan_run
from app.training.plots import reward_chart, rl_training_curves
from app.training.sars_store import EMBEDDING_CONFIG, load_transitions, snapshot_context

GATE_METRIC = "simulated_reward"
BASELINES = ("Random", "Popularity")  # what an RL version must beat beyond the interval to be activated
RL_STEP_SPANS = {"extract": (0, 8), "simulate": (8, 12), "train": (12, 85), "evaluate": (85, 95),
                 "register": (95, 97), "validate model": (97, 100)}


@dataclass
class RLTrainingConfig:
    """Everything one run is configured by; saved beside the weights as JSON."""

    td3: TD3Config = field(default_factory=lambda: TD3Config(popularity_prior=True))
    embedding: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(**asdict(EMBEDDING_CONFIG)))
    history_length: int = 10
    simulated_fill_threshold: int = 2000  # fewer real transitions than this are topped up with simulated ones
    logging_epsilon: float = 0.3  # the simulated logging policy's share of uniform random panels
    evaluation_episodes: int = 1000  # simulated panels per evaluated policy
    simulation_seed: int = 0
    evaluation_seed: int = 1  # not the fill's: the policy is judged on visits it was not trained on
    held_out_share: float = 0.2  # the last part of each user's taken services: what they would really take
    evaluation_user_share: float = 0.3  # users kept for evaluation; the simulated fill visits the others


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


def split_taken(taken: list[int], held_out_share: float) -> tuple[list[int], list[int]]:
    """A user's taken services (time order) → what policies see, and the last `held_out_share` of them
    (at least one when there are two or more) as what the user would really take next."""
    later = min(len(taken) - 1, math.ceil(held_out_share * len(taken))) if taken else 0
    return taken[:len(taken) - later], taken[len(taken) - later:]


def _log_share(counts: np.ndarray) -> np.ndarray | None:
    """(s,) counts → log1p(count) / log1p(max count), in [0, 1]; None when nothing was taken."""
    top = counts.max(initial=0)
    return np.log1p(counts) / np.log1p(top) if top > 0 else None


def snapshot_marketplace(dump: Mapping, encoder: StateEncoder, held_out_share: float = 0.2) -> SyntheticMarketplace:
    """The snapshot's recommendable services and its users, as the simulator's marketplace: each user's
    taken services split into a visible history (never shown again, as serving leaves them out) and
    held-out ones they would take; popularity counts every taking."""
    services = sorted((s for s in dump["services"] if s.get("status") in RECOMMENDABLE_STATUSES),
                      key=lambda s: int(s["id"]))
    ids = np.array([int(s["id"]) for s in services], np.int64)
    embeddings, known = encoder.embeddings_of(ids)
    services, ids, embeddings = [s for s, k in zip(services, known) if k], ids[known], embeddings[known]
    if ids.size == 0:
        raise DataRejected("no recommendable service to train RL on", {"services": "none recommendable"})
    if not dump["users"]:  # a marketplace of anonymous visitors: the simulator has nobody to play
        raise DataRejected("no users to simulate visitors from", {"users": "none in the snapshot"})
    offered = set(ids.tolist())
    users = sorted(dump["users"], key=lambda u: int(u["id"]))
    taken = [list(dict.fromkeys(int(s) for s in u.get("accessed_services") or () if int(s) in offered))
             for u in users]
    visible, held_out = zip(*(split_taken(t, held_out_share) for t in taken))
    counts = Counter(s for t in taken for s in t)
    return SyntheticMarketplace(
        service_ids=ids, embeddings=embeddings.astype(np.float32),
        service_category=np.array([_first(s.get("categories")) for s in services], np.int64),
        service_domain=np.array([_first(s.get("scientific_domains")) for s in services], np.int64),
        user_categories=[tuple(int(c) for c in u.get("categories") or ()) for u in users],
        user_domain=np.array([_first(u.get("scientific_domains")) for u in users], np.int64),
        histories=[list(v) for v in visible], ordered=[set(v) for v in visible],
        held_out=[set(h) for h in held_out],
        popularity=_log_share(np.array([counts.get(int(s), 0) for s in ids], np.float64)))


def visible_popularity(marketplace: SyntheticMarketplace) -> dict[int, float]:
    """How many users took each service, counted on the histories policies see (not the held-out part)."""
    return dict(Counter(s for history in marketplace.histories for s in set(history)))


def user_split(users: int, evaluation_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training users, evaluation users) as sorted indices; with fewer than two users, all are both."""
    if users < 2:
        return np.arange(users), np.arange(users)
    order = np.random.default_rng(seed).permutation(users)
    held = min(users - 1, max(1, round(evaluation_share * users)))
    return np.sort(order[held:]), np.sort(order[:held])


def _fresh(dump: Mapping, encoder: StateEncoder, config: RLTrainingConfig) -> SyntheticMarketplace:
    # The simulator changes the histories it plays: every policy starts from the same marketplace.
    return snapshot_marketplace(dump, encoder, config.held_out_share)


# --- Evaluation -------------------------------------------------------------------------

def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _interval(estimate: Estimate) -> list[float | None]:
    return [_finite(estimate.low), _finite(estimate.high)]


def simulated_rewards(policies: Mapping[str, Callable], dump: Mapping, encoder: StateEncoder,
                      config: RLTrainingConfig) -> dict[str, np.ndarray]:
    """(episodes,) reward of each panel of each policy, on the same simulated evaluation visitors: row i
    of every policy is the same visitor with the same random numbers (paired)."""
    table = load_reward_table()
    users = None
    rewards = {}
    for name, policy in policies.items():
        marketplace = _fresh(dump, encoder, config)
        if users is None:
            _, users = user_split(len(marketplace.histories), config.evaluation_user_share, config.evaluation_seed)
        rewards[name] = simulate_panels(policy, marketplace, config.evaluation_episodes, config.td3.k,
                                        config.evaluation_seed, table, encoder, users).panel_rewards
    return rewards


def compare_with_baselines(per_panel: Mapping[str, np.ndarray]) -> dict:
    """Each policy's mean reward per panel with its 95% interval, and RL − each baseline, paired."""
    estimates = {name: mean_estimate(rewards) for name, rewards in per_panel.items()}
    return {"simulated_rewards": {name: e.value for name, e in estimates.items()},
            "simulated_intervals": {name: _interval(e) for name, e in estimates.items()},
            "rl_minus": {base: {"difference": (d := paired_difference(per_panel["RL"], per_panel[base])).value,
                                "interval": _interval(d)} for base in BASELINES}}


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
        chosen, _ = select_ids(weights, model.service_ids, model.encoder.service_embeddings, candidates,
                               prior=model.service_prior)
        shown[row] = np.isin(real.action_ids[row], chosen)
    rewards, target, logging = real.item_rewards[logged], shown[logged], real.propensities[logged]
    ips_estimate, snips_estimate = ips(rewards, target, logging), snips(rewards, target, logging)
    return {"items": int(logged.sum()), "logged_mean_item_reward": float(rewards.mean()),
            "ips": _finite(ips_estimate.value), "ips_interval": _interval(ips_estimate),
            "snips": _finite(snips_estimate.value), "snips_interval": _interval(snips_estimate)}


def _evaluate(model: RLModel, dump: Mapping, encoder: StateEncoder, real: SarsBatch | None,
              config: RLTrainingConfig) -> tuple[dict, np.ndarray]:
    """The evaluation metrics, and RL's reward per evaluation panel (to compare the active version with)."""
    marketplace = _fresh(dump, encoder, config)
    popularity = visible_popularity(marketplace)
    per_panel = simulated_rewards({
        "RL": engine_policy(RL(model)),
        "Popularity": lambda request: (greedy_panel(popularity, request), np.ones(config.td3.k)),
        "Random": uniform_policy}, dump, encoder, config)
    simulation = {"episodes": config.evaluation_episodes, "held_out_share": config.held_out_share,
                  "users": len(marketplace.histories), "users_with_held_out": sum(map(bool, marketplace.held_out))}
    comparison = compare_with_baselines(per_panel)
    metrics = {GATE_METRIC: comparison["simulated_rewards"]["RL"], **comparison, "simulation": simulation,
               "ope": off_policy_estimates(model, real, marketplace.service_ids)}
    return metrics, per_panel["RL"]


# --- Gated activation ----------------------------------------------------------------------

def short_of_baselines(metrics: Mapping) -> list[str]:
    """The baselines RL does not beat beyond the interval (lower bound of RL − baseline not above 0)."""
    return [base for base in BASELINES if not (metrics["rl_minus"][base]["interval"][0] or 0.0) > 0.0]


def _active_measured_now(version: ModelVersion, dump: Mapping, encoder: StateEncoder, config: RLTrainingConfig,
                         new_per_panel: np.ndarray) -> dict:
    """The active version's simulated reward and SNIPS, on the new version's visitors and logged panels
    (its own encoder reads the logged transitions' ids), and new − active paired on those visitors."""
    model = RLModel.from_arrays(model_registry.load_arrays(version), version.params)
    per_panel = simulated_rewards({"RL": engine_policy(RL(model))}, dump, encoder, config)["RL"]
    candidates = _fresh(dump, encoder, config).service_ids
    ope = off_policy_estimates(model, load_transitions(model.encoder, config.td3.k), candidates)
    difference = paired_difference(new_per_panel, per_panel)
    return {"model_id": str(version.id), GATE_METRIC: mean_estimate(per_panel).value, "snips": ope and ope["snips"],
            "new_minus_active": {"difference": difference.value, "interval": _interval(difference)}}


def _describe(metrics: Mapping, bases: list[str]) -> str:
    def figure(value) -> str:
        return "unbounded" if value is None else f"{value:.4f}"

    return "; ".join(f"RL − {base} = {figure(metrics['rl_minus'][base]['difference'])}, 95% interval "
                     f"[{', '.join(map(figure, metrics['rl_minus'][base]['interval']))}]" for base in bases)


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
        reason = f"does not beat {' and '.join(short)} beyond the 95% interval: {_describe(metrics, short)}"
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
                                   f"{_describe(metrics, list(BASELINES))}"}


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
    marketplace = _fresh(dump, encoder, config)
    training_users, _ = user_split(len(marketplace.histories), config.evaluation_user_share, config.evaluation_seed)
    logging_policy = epsilon_greedy_policy(visible_popularity(marketplace), config.logging_epsilon)
    simulated = simulate_panels(logging_policy, marketplace, config.simulated_fill_threshold - have, config.td3.k,
                                config.simulation_seed, load_reward_table(), encoder, training_users).batch
    return simulated if real is None else SarsBatch.concatenate([real, simulated])


def training_catalogue(dump: Mapping, encoder: StateEncoder, config: RLTrainingConfig) -> Catalogue | None:
    """The services a residual actor selects among, with their popularity prior counted on the visible
    histories (the Popularity baseline's counts); None without the prior."""
    if not config.td3.popularity_prior:
        return None
    marketplace = _fresh(dump, encoder, config)
    return prior_catalogue(encoder, visible_popularity(marketplace), len(marketplace.histories))


def run_rl_pipeline(snapshot_id: str | None = None, config: RLTrainingConfig | None = None,
                    progress: Progress = no_progress, job_id: str | None = None) -> dict:
    """Train, evaluate, register and (if it passes the gate) activate an RL version; idempotent per
    (snapshot, config): a finished run for the same pair is returned as it is."""
    config = config or RLTrainingConfig()
    snapshot_id, digest, existing = plan_run("RL", snapshot_id, config)
    if existing:
        return existing
    clock = RLStepClock(progress)
    dump, encoder, real = clock.run("extract", lambda: _extract(snapshot_id, config), snapshot_id=snapshot_id)
    batch = clock.run("simulate", lambda: _with_simulated(real, dump, encoder, config))
    agent, report = clock.run("train", lambda: fit_td3(batch, config.td3, clock.training_progress,
                                                        training_catalogue(dump, encoder, config)))
    model = export_rl_model(agent, encoder)
    evaluation, rl_per_panel = clock.run("evaluate", lambda: _evaluate(model, dump, encoder, real, config))
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
    outcome, gate = clock.run("validate model",
                              lambda: validate_rl_version(version, dump, encoder, config, rl_per_panel))
    version.update(set__metrics__steps=clock.steps, set__metrics__gate=gate)  # with the last steps
    return {"status": outcome, "model_id": str(version.id), "snapshot_id": snapshot_id,
            GATE_METRIC: evaluation[GATE_METRIC], "gate": gate["reason"], "steps": clock.steps}
