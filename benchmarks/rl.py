"""RL against NCF, Popularity and Random on the synthetic marketplace, in one run.

    .venv/bin/python benchmarks/rl.py [--users 300] [--logged 4000] [--episodes 2000] [--steps 3000]

1. A logging policy with known propensities (epsilon-greedy popularity, ε = 0.3) shows
   `--logged` panels; its journeys become SARS (the same reward table and builder as real data).
2. RL (TD3) trains on those SARS; NCF trains on the same clicks plus the users' first histories;
   Popularity counts them. Training time is wall time on a shared 2-core machine: noisy.
3. On-policy: each policy serves `--episodes` panels to the same simulated users (same seed).
4. Off-policy: item-level IPS and SNIPS of each policy's mean item reward from the logged panels,
   beside the truth on those same logged contexts (Monte Carlo journeys from the simulator).
5. The same estimates from a log served by RL itself exploring (RL_EXPLORATION_EPSILON = ε),
   with the show probabilities the engine reports, as the serving log keeps them.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.engines import NCF, RL, Popularity, ServiceCategories, fit_popularity  # noqa: E402
from app.rl.export import export_rl_model  # noqa: E402
from app.rl.ope import ips, snips  # noqa: E402
from app.rl.policies import engine_policy, epsilon_greedy_policy, uniform_policy  # noqa: E402
from app.rl.rewards import load_reward_table  # noqa: E402
from app.rl.simulator import expected_item_rewards, simulate_panels, synthetic_marketplace  # noqa: E402
from app.rl.td3 import TD3Config, fit_td3  # noqa: E402
from app.training.autoencoder import AutoencoderConfig  # noqa: E402
from app.training.dataset import interaction_data  # noqa: E402
from app.training.ncf_network import NCFConfig  # noqa: E402
from app.training.ncf_training import NCFTrainingConfig, train_ncf  # noqa: E402

K, EPSILON = 3, 0.3


def clicks_of(marketplace, logged):
    """(user, service) pairs in time order: each user's first history, then the logged clicks."""
    pairs = [(u, s) for u, history in enumerate(marketplace.histories) for s in history]
    for request, ids, rewards in zip(logged.requests, logged.batch.action_ids, logged.batch.item_rewards):
        pairs += [(request.user_id, int(s)) for s, r in zip(ids, rewards) if r > 0]
    return np.array(pairs, dtype=np.int64)


def train_ncf_engine(marketplace, pairs) -> NCF:
    """NCF through the project's training pipeline, with small networks."""
    ids = marketplace.service_ids.tolist()
    dump = {"services": [{"id": s, "status": "published", "categories": [int(c)], "scientific_domains": [int(d)]}
                         for s, c, d in zip(ids, marketplace.service_category, marketplace.service_domain)],
            "users": [{"id": u, **{k: list(v) for k, v in marketplace.features(u).items()}}
                      for u in range(len(marketplace.histories))]}
    _, first = np.unique(pairs, axis=0, return_index=True)
    first = np.sort(first)
    data = interaction_data(dump, pairs[first, 0], pairs[first, 1], np.arange(first.size, dtype=np.float64))
    small = {"hidden_dim": 16, "epochs": 30, "batch_size": 64, "seed": 0}
    config = NCFTrainingConfig(user_autoencoder=AutoencoderConfig(embedding_dim=8, **small),
                               service_autoencoder=AutoencoderConfig(embedding_dim=8, **small),
                               ncf=NCFConfig(gmf_dim=8, mlp_embedding_dim=8, mlp_layers=(16, 8), epochs=15,
                                             batch_size=256, learning_rate=0.01, patience=15, seed=0),
                               k=3, refit_on_all=False)
    return NCF(train_ncf(data, config).model)


def train_policies(marketplace, logged, config: TD3Config) -> tuple[dict, dict, object]:
    """Each policy, its training seconds, and the exported RL model."""
    policies, seconds = {"Random": uniform_policy}, {"Random": 0.0}
    started = time.perf_counter()
    agent, report = fit_td3(logged.batch, config)
    rl_model = export_rl_model(agent, marketplace.encoder())
    policies["RL"] = engine_policy(RL(rl_model))
    seconds["RL"] = time.perf_counter() - started
    print(f"TD3 critic loss {report.critic_loss[0]:.4f} → {report.critic_loss[-1]:.4f}, "
          f"mean Q {report.mean_q[0]:.3f} → {report.mean_q[-1]:.3f}")
    pairs = clicks_of(marketplace, logged)
    started = time.perf_counter()
    categories = ServiceCategories.from_mapping(
        {int(s): [int(c)] for s, c in zip(marketplace.service_ids, marketplace.service_category)})
    popularity = fit_popularity(pairs[:, 1], np.ones(len(pairs), np.int8), np.zeros(len(pairs)), categories)
    policies["Popularity"] = engine_policy(Popularity(popularity))
    seconds["Popularity"] = time.perf_counter() - started
    started = time.perf_counter()
    policies["NCF"] = engine_policy(train_ncf_engine(marketplace, pairs))
    seconds["NCF"] = time.perf_counter() - started
    return policies, seconds, rl_model


def off_policy(policy, logged, marketplace, table, uniform: bool = False):
    """Item-level IPS and SNIPS from the logged panels, and the Monte Carlo truth on those contexts.

    A deterministic policy's probability of showing a logged item is 1 if its panel has it, else 0;
    the uniform policy's is K / candidates (its own draw would share the logging policy's seed).
    """
    rewards, target, logging, truth = [], [], [], []
    for i, request in enumerate(logged.requests):
        slate, _ = policy(request)
        truth.append(expected_item_rewards(marketplace, request, slate, table, seed=i).mean())
        shown = logged.batch.action_ids[i]
        rewards += logged.batch.item_rewards[i].tolist()
        inclusion = min(K, request.candidates.size) / request.candidates.size
        target += (np.full(K, inclusion) if uniform else np.isin(shown, slate).astype(float)).tolist()
        logging += logged.batch.propensities[i].tolist()
    return ips(rewards, target, logging), snips(rewards, target, logging), float(np.mean(truth))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--logged", type=int, default=4000)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0, help="of the agent's initialisation and minibatches")
    parser.add_argument("--anchor-alpha", type=float, default=TD3Config.anchor_alpha,
                        help="Q weight against staying near the anchor policy; 0 or less: plain TD3")
    parser.add_argument("--no-history-skip", action="store_true", help="an actor without the history prior")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = load_reward_table()
    logging_market = synthetic_marketplace(users=args.users, seed=0)
    counts = np.bincount(np.searchsorted(logging_market.service_ids, sum(logging_market.histories, [])),
                         minlength=logging_market.service_ids.size)
    popularity = {int(s): float(c) for s, c in zip(logging_market.service_ids, counts)}
    logged = simulate_panels(epsilon_greedy_policy(popularity, EPSILON), logging_market, args.logged, K, seed=1)
    print(f"logged {args.logged} panels (ε-greedy popularity, ε={EPSILON}): mean reward {logged.mean_reward:.4f}")
    start_market = synthetic_marketplace(users=args.users, seed=0)  # the users as they were before the log
    config = TD3Config(k=K, steps=args.steps, gamma=args.gamma, batch_size=128, seed=args.seed,
                       anchor_alpha=args.anchor_alpha if args.anchor_alpha > 0 else None,
                       history_skip=not args.no_history_skip)
    policies, seconds, rl_model = train_policies(start_market, logged, config)
    print("\n| policy | sim reward/panel (RMS) | sim item reward | IPS item reward [95% CI] | "
          "SNIPS item reward [95% CI] | truth on logged contexts | training s |")
    print("|---|---|---|---|---|---|---|")
    for name, policy in policies.items():
        run = simulate_panels(policy, synthetic_marketplace(users=args.users, seed=0), args.episodes, K, seed=2)
        ips_estimate, snips_estimate, truth = off_policy(policy, logged, synthetic_marketplace(users=args.users), table,
                                                       uniform=name == "Random")
        print(f"| {name} | {run.mean_reward:.4f} | {run.mean_item_reward:.4f} | {ips_estimate.value:.4f} "
              f"[{ips_estimate.low:.4f}, {ips_estimate.high:.4f}] | {snips_estimate.value:.4f} "
              f"[{snips_estimate.low:.4f}, {snips_estimate.high:.4f}] | {truth:.4f} | {seconds[name]:.1f} |")
    exploring = simulate_panels(engine_policy(RL(rl_model, exploration_epsilon=EPSILON)),
                                synthetic_marketplace(users=args.users, seed=0), args.logged, K, seed=3)
    print(f"\nFrom {args.logged} panels served by RL exploring (ε={EPSILON}, its own logged probabilities):")
    print("| policy | IPS item reward [95% CI] | SNIPS item reward [95% CI] | truth on logged contexts |")
    print("|---|---|---|---|")
    for name in ("RL", "Popularity"):
        ips_estimate, snips_estimate, truth = off_policy(policies[name], exploring,
                                                       synthetic_marketplace(users=args.users), table)
        print(f"| {name} | {ips_estimate.value:.4f} [{ips_estimate.low:.4f}, {ips_estimate.high:.4f}] | "
              f"{snips_estimate.value:.4f} [{snips_estimate.low:.4f}, {snips_estimate.high:.4f}] | {truth:.4f} |")


if __name__ == "__main__":
    main()
