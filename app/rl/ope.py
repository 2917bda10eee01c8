"""Off-policy evaluation: a new policy's expected reward from data logged by another policy.

Each logged round i has a reward r_i, the logging policy's probability p_i of the
logged action and the evaluated policy's probability q_i of that same action;
w_i = q_i / p_i. IPS averages w_i r_i (unbiased when p_i > 0 wherever q_i > 0);
self-normalised IPS divides by the sum of the weights instead of n (a little
biased, much less variable when weights are large). Intervals are normal
approximations: IPS's from the sample variance of w_i r_i, SNIPS's by the delta
method, with variance mean(w_i² (r_i − v)²) / (n · mean(w)²).

On-policy estimates from the simulator use the same Estimate: the mean reward per
panel with a normal interval, and the mean of paired differences (two policies on
the same simulated visitors) with the interval of that mean, which is tighter than
comparing two separate intervals because the visitors' variance cancels.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its confidence interval."""

    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        """Whether x lies in [low, high]."""
        return self.low <= x <= self.high


def _weights(target_probs, logging_probs) -> np.ndarray:
    target, logging = np.asarray(target_probs, np.float64), np.asarray(logging_probs, np.float64)
    if (logging <= 0).any():
        raise ValueError("logging probabilities must be positive")
    return target / logging


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def ips(rewards, target_probs, logging_probs, confidence: float = 0.95) -> Estimate:
    """Inverse propensity scoring: (n,) rewards, target and logging probabilities → the estimate."""
    return mean_estimate(_weights(target_probs, logging_probs) * np.asarray(rewards, np.float64), confidence)


def snips(rewards, target_probs, logging_probs, confidence: float = 0.95) -> Estimate:
    """Self-normalised IPS: Σ w r / Σ w, with a delta-method interval."""
    weights, rewards = _weights(target_probs, logging_probs), np.asarray(rewards, np.float64)
    if weights.sum() == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    value = float((weights * rewards).sum() / weights.sum())
    variance = float(np.mean(weights**2 * (rewards - value) ** 2) / (weights.size * weights.mean() ** 2))
    half = _z(confidence) * np.sqrt(variance)
    return Estimate(value, float(value - half), float(value + half))


def mean_estimate(values, confidence: float = 0.95) -> Estimate:
    """The mean of (n,) values (e.g. rewards per panel) with a normal interval."""
    values = np.asarray(values, np.float64)
    value = float(values.mean())
    half = _z(confidence) * float(values.std(ddof=1)) / np.sqrt(values.size) if values.size > 1 else float("inf")
    return Estimate(value, float(value - half), float(value + half))


def paired_difference(first, second, confidence: float = 0.95) -> Estimate:
    """Mean of first − second over (n,) paired rows (the same visitors), with a normal interval."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if first.shape != second.shape:
        raise ValueError(f"paired rows must match: {first.shape} and {second.shape}")
    return mean_estimate(first - second, confidence)
