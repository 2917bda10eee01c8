"""Sticky, stateless assignment: the same person sees the same variant of an experiment in
every process and after every restart, with nothing stored.

A person's key (the marketplace user id when logged in, else the browser's unique id) and
the experiment's id are hashed with SHA-256; the first 8 bytes, read as a fraction of 2**64,
are a point in [0, 1) that falls in one variant's slice of the cumulative shares. Hashing
with the experiment id makes the splits of two experiments independent of each other.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence


def unit_of(user_id: int | None, unique_id: str | None) -> str | None:
    """Who is assigned: "user:<id>" for a logged-in user, else "visitor:<unique id>" (lower-case,
    as UUIDs are stored), None when the request names neither."""
    if user_id is not None:
        return f"user:{int(user_id)}"
    if unique_id:
        return f"visitor:{unique_id.lower()}"
    return None


def point_of(experiment_id: str, unit: str) -> float:
    """A point in [0, 1), uniform over units, fixed for (experiment, unit)."""
    digest = hashlib.sha256(f"{experiment_id}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(point: float, shares: Sequence[float]) -> int:
    """The index of the slice of cumulative `shares` (summing to 1) that holds `point`."""
    bound = 0.0
    for index, share in enumerate(shares):
        bound += share
        if point < bound:
            return index
    return len(shares) - 1  # shares summing to 1 - 1e-16 must not leave the last sliver unassigned


def variant_index(experiment_id: str, unit: str, shares: Sequence[float]) -> int:
    """The variant (index into `shares`) this unit sees in this experiment."""
    return pick(point_of(experiment_id, unit), shares)
