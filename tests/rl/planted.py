"""A planted bandit: the reward of a panel is how well its services align with a hidden vector."""
from __future__ import annotations

import numpy as np

from app.rl.sars import SarsBatch

K, D, SERVICES, STATE = 2, 4, 30, 8


def planted_bandit(rows: int = 1500, seed: int = 0):
    """Logged random panels, one step each (done), and what is needed to score any panel."""
    rng = np.random.default_rng(seed)
    embeddings = np.tanh(rng.normal(size=(SERVICES, D))).astype(np.float32)  # (s, d)
    hidden = rng.normal(size=D)
    hidden /= np.linalg.norm(hidden)

    def panel_reward(positions: np.ndarray) -> np.ndarray:  # (..., K) → (...)
        return np.clip(embeddings[positions] @ hidden, 0.0, None).mean(axis=-1)

    shown = np.stack([rng.choice(SERVICES, K, replace=False) for _ in range(rows)])  # (n, K)
    rewards = panel_reward(shown).astype(np.float32)
    states = rng.normal(size=(rows, STATE)).astype(np.float32)
    batch = SarsBatch(states, shown, embeddings[shown], rewards, np.zeros((rows, K), np.float32),
                      rng.normal(size=(rows, STATE)).astype(np.float32), np.ones(rows, np.float32),
                      np.full((rows, K), K / SERVICES, np.float32))
    return batch, embeddings, panel_reward
