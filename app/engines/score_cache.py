"""The latest users' scores (or logits) over a whole catalogue, kept by the engine that computed them,
and the services retrieved for them in a large one (app/engines/ncf_retrieval.py).

A browsing user asks for panels again and again (a page, the next page, a search
result) while nothing that their scores depend on changes: the model, their
trained row and the services they took. Scoring every service once and answering
the next requests by lookup costs the first request at most twice its own work
when it scored half the catalogue or more, and saves the whole scoring after it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

DEFAULT_BUDGET_BYTES = 64 * 2**20


class ScoreCache:
    """A thread-safe least-recently-used map from a key to a vector (scores, rows), bounded in bytes."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        self.budget_bytes = budget_bytes
        self._vectors: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: Hashable, vector: np.ndarray) -> None:
        """Keep `vector` (made read-only: requests share it), evicting the least recently used ones
        beyond the budget; one larger than the whole budget is not kept."""
        vector.setflags(write=False)
        if vector.nbytes > self.budget_bytes:
            return
        with self._lock:
            if key in self._vectors:
                return
            self._vectors[key] = vector
            self._bytes += vector.nbytes
            while self._bytes > self.budget_bytes:
                _, evicted = self._vectors.popitem(last=False)
                self._bytes -= evicted.nbytes

    def __len__(self) -> int:
        return len(self._vectors)
