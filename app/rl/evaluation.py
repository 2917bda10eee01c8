"""How an RL policy is judged: its reward per panel on simulated evaluation visitors
beside Popularity's and Random's (paired, each with its 95% interval), and IPS and
SNIPS on the logged transitions whose propensities are known. The gate
(app/pipelines/rl.py) activates a version only when it beats both baselines beyond
the interval (`short_of_baselines` is empty)."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from app.engines.rl import RL, RLModel, StateEncoder
from app.rl.judging import BASELINES, GATE_METRIC
from app.rl.ope import Estimate, ips, mean_estimate, paired_difference, snips
from app.rl.policies import engine_policy, greedy_panel, uniform_policy
from app.rl.rewards import load_reward_table
from app.rl.sars import SarsBatch
from app.rl.selector import select_ids
from app.rl.simulator import simulate_panels
from app.rl.snapshot_marketplace import user_split, visible_popularity
from app.rl.training import RLTrainingConfig, fresh_marketplace


def finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def interval(estimate: Estimate) -> list[float | None]:
    return [finite(estimate.low), finite(estimate.high)]


def simulated_rewards(policies: Mapping[str, Callable], dump: Mapping, encoder: StateEncoder,
                      config: RLTrainingConfig) -> dict[str, np.ndarray]:
    """(episodes,) reward of each panel of each policy, on the same simulated evaluation visitors: row i
    of every policy is the same visitor with the same random numbers (paired)."""
    table = load_reward_table()
    users = None
    rewards = {}
    for name, policy in policies.items():
        marketplace = fresh_marketplace(dump, encoder, config)
        if users is None:
            _, users = user_split(len(marketplace.histories), config.evaluation_user_share, config.evaluation_seed)
        rewards[name] = simulate_panels(policy, marketplace, config.evaluation_episodes, config.td3.k,
                                        config.evaluation_seed, table, encoder, users).panel_rewards
    return rewards


def compare_with_baselines(per_panel: Mapping[str, np.ndarray]) -> dict:
    """Each policy's mean reward per panel with its 95% interval, and RL − each baseline, paired."""
    estimates = {name: mean_estimate(rewards) for name, rewards in per_panel.items()}
    return {"simulated_rewards": {name: e.value for name, e in estimates.items()},
            "simulated_intervals": {name: interval(e) for name, e in estimates.items()},
            "rl_minus": {base: {"difference": (d := paired_difference(per_panel["RL"], per_panel[base])).value,
                                "interval": interval(d)} for base in BASELINES}}


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
            "ips": finite(ips_estimate.value), "ips_interval": interval(ips_estimate),
            "snips": finite(snips_estimate.value), "snips_interval": interval(snips_estimate)}


def evaluate_policy(model: RLModel, dump: Mapping, encoder: StateEncoder, real: SarsBatch | None,
              config: RLTrainingConfig) -> tuple[dict, np.ndarray]:
    """The evaluation metrics, and RL's reward per evaluation panel (to compare the active version with)."""
    marketplace = fresh_marketplace(dump, encoder, config)
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


def short_of_baselines(metrics: Mapping) -> list[str]:
    """The baselines RL does not beat beyond the interval (lower bound of RL − baseline not above 0)."""
    return [base for base in BASELINES if not (metrics["rl_minus"][base]["interval"][0] or 0.0) > 0.0]


def describe(metrics: Mapping, bases: list[str]) -> str:
    def figure(value) -> str:
        return "unbounded" if value is None else f"{value:.4f}"

    return "; ".join(f"RL − {base} = {figure(metrics['rl_minus'][base]['difference'])}, 95% interval "
                     f"[{', '.join(map(figure, metrics['rl_minus'][base]['interval']))}]" for base in bases)
