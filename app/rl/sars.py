"""SARS tuples from logged recommendations and the journeys that followed them (pure: no database).

A logged recommendation (what was shown, to whom, with which probabilities),
the journey branches started from its panel, the visitor's services before it
and a state encoder give one (state, action, reward, next state, done) tuple:

- state: the encoder's (2d,) vector of the visitor's declared features and last N services;
- action: the K shown ids and their (K, d) embeddings (zero rows pad a shorter panel);
- reward: the panel reward of app/rl/rewards.py, with the per-item values;
- next state: the history extended with the services clicked (ordered ones included);
- done: the panel led to an order, which ends the episode: the need it served is met;
- propensities: the logging policy's probability of each shown item.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.engines.rl import StateEncoder
from app.rl.rewards import RewardTable, group_by_clicked_service, panel_reward


@dataclass(frozen=True, eq=False)
class Sars:
    """One transition."""

    state: np.ndarray  # (2d,) float32
    action_ids: np.ndarray  # (K,) int64, -1 pads a shorter panel
    action: np.ndarray  # (K, d) float32
    reward: float
    item_rewards: np.ndarray  # (K,) float32
    next_state: np.ndarray  # (2d,) float32
    done: bool
    propensities: np.ndarray  # (K,) float32, nan where not logged


@dataclass(frozen=True, eq=False)
class SarsBatch:
    """Transitions as stacked arrays, ready for training and off-policy evaluation."""

    states: np.ndarray  # (n, 2d) float32
    action_ids: np.ndarray  # (n, K) int64
    actions: np.ndarray  # (n, K, d) float32
    rewards: np.ndarray  # (n,) float32
    item_rewards: np.ndarray  # (n, K) float32
    next_states: np.ndarray  # (n, 2d) float32
    dones: np.ndarray  # (n,) float32, 1.0 ends the episode
    propensities: np.ndarray  # (n, K) float32

    def __len__(self) -> int:
        return int(self.rewards.size)

    @classmethod
    def from_sars(cls, items: Sequence[Sars]) -> SarsBatch:
        """Stack single transitions (at least one)."""
        return cls(np.stack([s.state for s in items]), np.stack([s.action_ids for s in items]),
                   np.stack([s.action for s in items]), np.array([s.reward for s in items], np.float32),
                   np.stack([s.item_rewards for s in items]).astype(np.float32),
                   np.stack([s.next_state for s in items]),
                   np.array([s.done for s in items], np.float32), np.stack([s.propensities for s in items]))

    @classmethod
    def concatenate(cls, batches: Sequence[SarsBatch]) -> SarsBatch:
        """One batch of all transitions, in order (all with the same K and d)."""
        return cls(*(np.concatenate([getattr(b, name) for b in batches]) for name in _FIELDS))

    def subset(self, rows: np.ndarray) -> SarsBatch:
        """The transitions at `rows`."""
        return SarsBatch(*(getattr(self, name)[rows] for name in _FIELDS))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array by name (for numpy.savez or safetensors)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SarsBatch:
        """The batch `to_arrays()` describes."""
        return cls(*(np.asarray(arrays[name]) for name in _FIELDS))


_FIELDS = ("states", "action_ids", "actions", "rewards", "item_rewards", "next_states", "dones", "propensities")


def build_sars(record: Mapping, branches: Sequence[Mapping], history: Sequence[int], embeddings: StateEncoder,
               table: RewardTable, k: int | None = None, user_features: Mapping[str, Sequence[int]] | None = None,
               ) -> Sars:
    """One transition from a logged recommendation `record`, the journey `branches` started in its panel,
    the visitor's service ids before it (oldest first) and the state encoder.

    `k` pads or cuts the panel to K slots (default: as many as shown); `user_features` are the visitor's
    declared features (e.g. {"categories": [3]}), read from `record["user_features"]` when not given.
    """
    shown = [int(s) for s in record["service_ids"]]
    k = len(shown) if k is None else k
    shown = shown[:k]
    features = user_features if user_features is not None else record.get("user_features", {})
    by_service = group_by_clicked_service(branches)
    item_rewards, reward = panel_reward(shown, by_service, table)
    clicked = [s for s in shown if s in by_service]
    ordered = any(value >= table.symbol_values.get("order", 1.0) for value in item_rewards)
    vectors, _ = embeddings.embeddings_of(shown)  # (len(shown), d)
    d = embeddings.service_embeddings.shape[1]
    action = np.zeros((k, d), np.float32)
    action[:len(shown)] = vectors
    probabilities = list(record.get("probabilities") or [])[:len(shown)]
    propensities = np.full(k, np.nan, np.float32)
    propensities[:len(probabilities)] = probabilities
    return Sars(state=embeddings.state(features, list(history)),
                action_ids=np.array(shown + [-1] * (k - len(shown)), np.int64), action=action, reward=reward,
                item_rewards=np.array(item_rewards + [0.0] * (k - len(shown)), np.float32),
                next_state=embeddings.state(features, list(history) + clicked), done=ordered,
                propensities=propensities)
