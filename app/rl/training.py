"""An RL run's configuration and the pure steps before the fit: the real transitions
topped up with simulated ones, and the catalogue with its popularity prior. The
pipeline (app/pipelines/rl.py) runs them, then TD3 (app/rl/td3.py), the export
(app/rl/export.py) and the evaluation (app/rl/evaluation.py)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from app.engines.rl import StateEncoder
from app.rl.export import prior_catalogue
from app.rl.policies import epsilon_greedy_policy
from app.rl.rewards import load_reward_table
from app.rl.sars import SarsBatch
from app.rl.simulator import SyntheticMarketplace, simulate_panels
from app.rl.snapshot_marketplace import snapshot_marketplace, user_split, visible_popularity
from app.rl.td3 import Catalogue, TD3Config
from app.training.autoencoder import AutoencoderConfig

# The service autoencoder behind the state. Small: the state is 2 × embedding_dim, and
# the actor's output K × embedding_dim.
EMBEDDING_CONFIG = AutoencoderConfig(embedding_dim=16, hidden_dim=64, epochs=30)


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


def fresh_marketplace(dump: Mapping, encoder: StateEncoder, config: RLTrainingConfig) -> SyntheticMarketplace:
    # The simulator changes the histories it plays: every policy starts from the same marketplace.
    return snapshot_marketplace(dump, encoder, config.held_out_share)


def with_simulated(real: SarsBatch | None, dump: Mapping, encoder: StateEncoder,
                    config: RLTrainingConfig) -> SarsBatch:
    """The real transitions, topped up with simulated ones up to the threshold."""
    have = 0 if real is None else len(real)
    if have >= config.simulated_fill_threshold:
        return real
    marketplace = fresh_marketplace(dump, encoder, config)
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
    marketplace = fresh_marketplace(dump, encoder, config)
    return prior_catalogue(encoder, visible_popularity(marketplace), len(marketplace.histories))
