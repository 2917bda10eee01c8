"""Every interaction the Popularity and Session refits learn from, kept by the trainer
process between refits and extended with what arrived since, instead of read again whole.

Beat refits every INTERACTION_MODELS_REFRESH_SECONDS. Reading every stored interaction
each time held the embedded database window after window, and the writes of the API
waited behind it: in the MovieLens replays the slowest user actions and events (p99 88 to
102 ms, the rest under 25 ms) all fell in a refit. A scheduled refit now reads only the
interactions timestamped from `settled` on and appends them to what it kept.

Timestamps are the marketplace's, so an interaction can arrive after later ones: the
tail of INTERACTION_MODELS_LATE_SECONDS before the newest timestamp read (or before the
read began, if a client's clock ran ahead) is dropped from what is kept and read again
each time. An interaction arriving later than that is learnt at the next full read. A
full read happens on a new snapshot, when the last one is
INTERACTION_MODELS_FULL_READ_SECONDS old, when a refit is
asked for rather than scheduled (an operator expects everything), and after a user's
data was deleted (the active version is then marked stale, and the caller asks for one).
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from app.engines import encode_types, seconds_since_epoch
from app.marketplace.history import all_interactions

ARRAY_NAMES = ("keys", "service_ids", "types", "timestamps")


def interaction_arrays(items: Iterable[dict]) -> dict[str, np.ndarray]:
    """Parallel arrays (keys, service_ids, types, timestamps) of the interactions about a service."""
    keys, services, types, stamps = [], [], [], []
    for item in items:
        if item.get("service_id") is None:
            continue
        keys.append(f"user:{item['user_id']}" if item.get("user_id") is not None else f"visitor:{item['unique_id']}")
        services.append(item["service_id"])
        types.append(item["type"])
        stamps.append(seconds_since_epoch(item["timestamp"]))
    return {"keys": np.asarray(keys, dtype=object), "service_ids": np.asarray(services, dtype=np.int64),
            "types": encode_types(types), "timestamps": np.asarray(stamps, dtype=np.float64)}


def joined(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Interaction arrays of `first` followed by those of `second`."""
    return {name: np.concatenate([first[name], second[name]]) for name in ARRAY_NAMES}


def _before(arrays: dict[str, np.ndarray], moment: float) -> dict[str, np.ndarray]:
    count = int(np.searchsorted(arrays["timestamps"], moment, side="left"))  # arrays are oldest first
    return {name: array[:count] for name, array in arrays.items()}


def _settled_moment(newest: float | None, read_began: float, late_seconds: float) -> datetime:
    """Where the next read starts, to the millisecond MongoDB keeps: interactions before it are kept."""
    latest = read_began if newest is None else min(newest, read_began)
    moment = datetime.fromtimestamp(latest - late_seconds, tz=timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class ReadReport:
    """What one call read, for the job record."""

    full: bool
    read: int  # interactions about a service read from the database by this call
    since: str | None  # where an incremental read started (ISO), None for a full read

    def as_dict(self) -> dict:
        return {"full": self.full, "read": self.read, "since": self.since}


class KeptInteractions:
    """One process's interactions of one snapshot, oldest first, extended between refits."""

    def __init__(self, late_seconds: float, full_read_seconds: float, clock=time.time):
        self.late_seconds = late_seconds
        self.full_read_seconds = full_read_seconds
        self._clock = clock
        self._snapshot_id: str | None = None
        self._kept: dict[str, np.ndarray] | None = None  # everything timestamped before `_settled`
        self._settled: datetime | None = None
        self._full_read_at = float("-inf")

    def read(self, snapshot_id: str, full: bool = False) -> tuple[dict[str, np.ndarray], ReadReport]:
        """Every interaction (arrays oldest first), and how much was read to get them."""
        began = self._clock()
        full = (full or self._kept is None or snapshot_id != self._snapshot_id
                or began - self._full_read_at >= self.full_read_seconds)
        since = None if full else self._settled
        fresh = interaction_arrays(all_interactions(since))
        arrays = fresh if full else joined(self._kept, fresh)
        stamps = arrays["timestamps"]
        self._settled = _settled_moment(float(stamps[-1]) if stamps.size else None, began, self.late_seconds)
        self._kept = _before(arrays, self._settled.timestamp())
        self._snapshot_id = snapshot_id
        if full:
            self._full_read_at = began
        report = ReadReport(full=full, read=int(fresh["timestamps"].size),
                            since=None if since is None else since.isoformat())
        return arrays, report

    def forget(self) -> None:
        """Read everything again next time."""
        self._kept = None
