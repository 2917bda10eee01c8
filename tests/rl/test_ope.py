"""Off-policy estimates on synthetic logs with a known truth."""
from __future__ import annotations

import numpy as np
import pytest

from app.rl.ope import ips, snips

ARMS = 5
CLICK_RATE = np.array([0.05, 0.1, 0.2, 0.3, 0.6])


def _synthetic(rounds: int, seed: int):
    """A uniform logging policy over 5 arms; the target policy prefers the best arm."""
    rng = np.random.default_rng(seed)
    target_policy = np.array([0.05, 0.05, 0.1, 0.2, 0.6])
    arms = rng.integers(0, ARMS, rounds)
    rewards = (rng.random(rounds) < CLICK_RATE[arms]).astype(float)
    truth = float(target_policy @ CLICK_RATE)
    return rewards, target_policy[arms], np.full(rounds, 1 / ARMS), truth


@pytest.mark.parametrize("estimator", [ips, snips])
def test_the_interval_contains_the_truth(estimator):
    rewards, target, logging, truth = _synthetic(20_000, seed=3)
    estimate = estimator(rewards, target, logging)
    assert estimate.contains(truth), (estimate, truth)
    assert estimate.high - estimate.low < 0.05


@pytest.mark.parametrize("estimator", [ips, snips])
def test_intervals_cover_the_truth_about_as_often_as_they_claim(estimator):
    covered = [estimator(*_synthetic(2_000, seed)[:3]).contains(_synthetic(1, 0)[3]) for seed in range(100)]
    assert 0.88 <= np.mean(covered) <= 1.0


def test_same_policy_gives_the_plain_mean():
    rewards = np.array([0.0, 1.0, 1.0, 0.0])
    probs = np.full(4, 0.25)
    assert ips(rewards, probs, probs).value == snips(rewards, probs, probs).value == 0.5


def test_a_zero_logging_probability_is_refused():
    with pytest.raises(ValueError):
        ips([1.0], [0.5], [0.0])
