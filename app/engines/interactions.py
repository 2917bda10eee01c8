"""Interactions as parallel arrays, and the interaction types engines weigh.

A marketplace tells us about views of service pages, clicks (e.g. on a
recommendation panel), additions to a cart or project, and orders. Engines see
them as small integer codes so that a weight table is one array lookup.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

import numpy as np


class InteractionType(IntEnum):
    """What a user did with a service, weakest signal first."""

    VIEW = 0
    CLICK = 1
    CART = 2
    ORDER = 3


# Relative strength of each signal: an order says much more than a page view.
DEFAULT_TYPE_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "cart": 4.0, "order": 8.0}

# What a panel is for: the visitor's next click, cart or order. A service many people order
# is not the one many people click (the OTTO competition's lesson), so each objective counts
# the interactions of its own kind most. "order" is what panels have always optimised.
OBJECTIVES = ("click", "cart", "order")
DEFAULT_OBJECTIVE = "order"
OBJECTIVE_TYPE_WEIGHTS: dict[str, dict[str, float]] = {
    "click": {"view": 2.0, "click": 4.0, "cart": 1.0, "order": 1.0},
    "cart": {"view": 1.0, "click": 2.0, "cart": 8.0, "order": 4.0},
    "order": dict(DEFAULT_TYPE_WEIGHTS),
}


def other_objectives_weights() -> dict[str, dict[str, float]]:
    """Copies of the weights of every objective but the default: what a model's parameters
    hold beside their own `type_weights` (the default objective's)."""
    return {objective: dict(weights) for objective, weights in OBJECTIVE_TYPE_WEIGHTS.items()
            if objective != DEFAULT_OBJECTIVE}


def objective_weights(objective: str, own: Mapping[str, float],
                      others: Mapping[str, Mapping[str, float]]) -> Mapping[str, float]:
    """The type weights of `objective` in a model's parameters: `own` for the default objective,
    else its entry in `others`, else `own` (parameters stored before that objective existed)."""
    if objective == DEFAULT_OBJECTIVE:
        return own
    return others.get(objective, own)


def encode_types(names: Sequence[str]) -> np.ndarray:
    """Type names ("view", "order", ...) to codes; a name we do not know counts as a view."""
    codes = {member.name.lower(): member.value for member in InteractionType}
    return np.array([codes.get(str(name).lower(), InteractionType.VIEW) for name in names], dtype=np.int8)


def type_weight_table(weights: Mapping[str, float]) -> np.ndarray:
    """A (len(InteractionType),) float64 table indexed by type code; a type left out weighs 0."""
    table = np.zeros(len(InteractionType), dtype=np.float64)
    for name, weight in weights.items():
        table[InteractionType[name.upper()]] = float(weight)
    return table


def seconds_since_epoch(moment: float | datetime) -> float:
    """A timestamp in seconds; a datetime without a zone is UTC (as MongoDB returns them)."""
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return float(moment)


@dataclass(frozen=True, eq=False)
class Interactions:
    """One visitor's interactions, oldest first: position, not the clock, says which is recent."""

    service_ids: np.ndarray  # (n,) int64
    types: np.ndarray  # (n,) int8 InteractionType codes
    timestamps: np.ndarray  # (n,) float64 seconds since the epoch

    def __post_init__(self):
        service_ids = np.asarray(self.service_ids, dtype=np.int64).reshape(-1)
        types = np.asarray(self.types, dtype=np.int8).reshape(-1)
        timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        if not service_ids.size == types.size == timestamps.size:
            raise ValueError("service_ids, types and timestamps must have the same length")
        object.__setattr__(self, "service_ids", service_ids)
        object.__setattr__(self, "types", types)
        object.__setattr__(self, "timestamps", timestamps)

    @classmethod
    def empty(cls) -> Interactions:
        """No interactions."""
        return cls(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.float64))

    @classmethod
    def from_records(cls, records: Sequence[tuple[int, str, float | datetime]]) -> Interactions:
        """From (service_id, type name, timestamp) tuples in any order, e.g. a request's `session`;
        timestamps in seconds or as datetimes."""
        if not records:
            return cls.empty()
        rows = sorted(((int(s), str(t), seconds_since_epoch(moment)) for s, t, moment in records),
                      key=lambda row: row[2])  # stable: simultaneous events keep the caller's order
        service_ids, names, timestamps = zip(*rows)
        return cls(np.array(service_ids, np.int64), encode_types(names), np.array(timestamps, np.float64))

    def __len__(self) -> int:
        return int(self.service_ids.size)

    def then(self, later: Interactions) -> Interactions:
        """These interactions followed by `later` ones, which count as more recent whatever their clocks say."""
        return Interactions(
            np.concatenate([self.service_ids, later.service_ids]),
            np.concatenate([self.types, later.types]),
            np.concatenate([self.timestamps, later.timestamps]),
        )
