"""Off-policy evaluation checked against the Open Bandit Dataset sample (see app/sample_data/open_bandit_files.py).

OBD logs the same ZOZOTOWN campaign under two policies, uniform random and
Bernoulli Thompson sampling (BTS); each round shows an item at one of three
positions with its click and the logging propensity. We estimate BTS's click
rate from the random log and compare it with the rate BTS really got.

Approximation: the random log does not say how likely BTS was to show the
logged item in that round. We take BTS's probability of item i at position p as
the share of BTS's own rounds at position p that showed item i (its empirical
marginal over the sample; context-free, so it ignores that BTS's choices vary
over time). The random policy's probability is the logged propensity_score.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.rl.ope import Estimate, ips, snips


@dataclass(frozen=True, eq=False)
class BanditLog:
    """One policy's rounds."""

    item_ids: np.ndarray  # (n,) int64
    positions: np.ndarray  # (n,) int64, 1..3
    clicks: np.ndarray  # (n,) float64, 0 or 1
    propensities: np.ndarray  # (n,) float64, the logging policy's probability of the logged item


def read_bandit_log(path: str | Path) -> BanditLog:
    """A campaign CSV of the sample (e.g. obd/random/all/all.csv)."""
    with open(path, newline="") as file:
        rows = [(int(r["item_id"]), int(r["position"]), float(r["click"]), float(r["propensity_score"]))
                for r in csv.DictReader(file)]
    items, positions, clicks, propensities = (np.array(column) for column in zip(*rows))
    return BanditLog(items.astype(np.int64), positions.astype(np.int64), clicks, propensities)


def empirical_policy(log: BanditLog, per_position: bool = True) -> np.ndarray:
    """(positions + 1, items) array: share of the log's rounds at a position that showed each item
    (row 0 unused; with `per_position=False` every row is the share over all positions)."""
    table = np.zeros((log.positions.max() + 1, log.item_ids.max() + 1))
    if per_position:
        np.add.at(table, (log.positions, log.item_ids), 1.0)
        totals = table.sum(axis=1, keepdims=True)
        return np.divide(table, totals, out=np.zeros_like(table), where=totals > 0)
    overall = np.bincount(log.item_ids, minlength=table.shape[1]) / log.item_ids.size
    return np.broadcast_to(overall, table.shape).copy()


@dataclass(frozen=True)
class ObdCheck:
    """The estimates of the evaluated policy's click rate and the rate it really got."""

    ips: Estimate
    snips: Estimate
    observed: float
    rounds: int


def estimate_bts_from_random(obd_dir: str | Path, campaign: str = "all", per_position: bool = True) -> ObdCheck:
    """IPS and SNIPS of BTS's click rate from the random policy's log, beside BTS's observed rate."""
    obd_dir = Path(obd_dir)
    random_log = read_bandit_log(obd_dir / "random" / campaign / f"{campaign}.csv")
    bts_log = read_bandit_log(obd_dir / "bts" / campaign / f"{campaign}.csv")
    policy = empirical_policy(bts_log, per_position)
    items = np.minimum(random_log.item_ids, policy.shape[1] - 1)  # an item BTS never logged gets probability 0
    target = np.where(random_log.item_ids < policy.shape[1], policy[random_log.positions, items], 0.0)
    return ObdCheck(ips(random_log.clicks, target, random_log.propensities),
                    snips(random_log.clicks, target, random_log.propensities),
                    float(bts_log.clicks.mean()), int(random_log.clicks.size))
