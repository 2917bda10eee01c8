"""What engines know about services themselves: their ids and their categories."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from app.engines.csr import row_lengths_to_indptr


class IdIndex:
    """Sorted, unique ids (of services, of categories): a model's rows, and the lookup from any ids to them.

    Marketplace ids are mostly dense, so the lookup is a table indexed by id where the
    id range is at most a few times the number of ids: for 9,000 service ids of a
    10k catalogue it takes 22 µs, where a binary search took 180 µs (ids in order) to
    1,100 µs (ids in any order)."""

    DENSE_SPAN_PER_ID = 8  # a table of up to 8 entries (32 bytes) per id, ...
    DENSE_SPAN_ANYWAY = 1 << 16  # ... or of 64k entries whatever the number of ids

    def __init__(self, ids: np.ndarray):
        self.ids = np.unique(np.asarray(ids, dtype=np.int64))  # (s,) sorted
        self._table = None  # built on the first lookup: (span + 2,) int32 rows by slot, -1 for none

    def __len__(self) -> int:
        return int(self.ids.size)

    def positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the given ids: `positions` (n,) int64 (0 where unknown) and `known` (n,) bool."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.ids.size == 0:
            return np.zeros(ids.shape, np.int64), np.zeros(ids.shape, bool)
        table = self._table if self._table is not None else self._build_table()
        if table is False:
            positions = np.minimum(np.searchsorted(self.ids, ids), self.ids.size - 1)
            known = self.ids[positions] == ids
            return np.where(known, positions, 0), known
        # Entry 0 and the last entry are -1: `clip` sends every id out of range to one of them.
        # An id far out of range may wrap around in the subtraction, but never onto a slot in
        # range: only the id of that slot lands there.
        rows = table.take(ids - self._shift, mode="clip")
        known = rows >= 0
        return np.maximum(rows, 0).astype(np.int64), known

    def _build_table(self):
        """The id → row table, or False where the ids are too sparse for one."""
        low, span = int(self.ids[0]), int(self.ids[-1]) - int(self.ids[0]) + 1
        too_wide = span > max(self.DENSE_SPAN_PER_ID * self.ids.size, self.DENSE_SPAN_ANYWAY)
        if too_wide or low - 1 < np.iinfo(np.int64).min or self.ids.size >= 2**31:
            self._table = False
            return False
        self._shift = np.int64(low - 1)  # id → its slot: id - (lowest - 1)
        table = np.full(span + 2, -1, dtype=np.int32)
        table[self.ids - self._shift] = np.arange(self.ids.size, dtype=np.int32)
        self._table = table
        return table

    def gather(self, values: np.ndarray, ids: np.ndarray, missing: float = 0.0) -> np.ndarray:
        """(s,) values by row → (n,) float64 values of the given ids, `missing` for unknown ids."""
        positions, known = self.positions(ids)
        gathered = np.full(positions.size, missing, dtype=np.float64)
        gathered[known] = values[positions[known]]
        return gathered


@dataclass(frozen=True, eq=False)
class ServiceCategories:
    """Service → category ids, CSR-shaped: the categories of `service_ids[i]` are
    `category_ids[indptr[i]:indptr[i + 1]]`. Build it from a dump with `from_mapping`."""

    service_ids: np.ndarray  # (s,) int64
    indptr: np.ndarray  # (s + 1,) int64
    category_ids: np.ndarray  # (nnz,) int64

    @classmethod
    def from_mapping(cls, categories_of: Mapping[int, Iterable[int]]) -> ServiceCategories:
        """From {service id: [category id, ...]}, e.g. `{s["id"]: s["categories"] for s in dump["services"]}`."""
        service_ids = np.array(sorted(categories_of), dtype=np.int64)
        rows = [sorted({int(c) for c in categories_of[int(s)]}) for s in service_ids]
        indptr = row_lengths_to_indptr(np.array([len(row) for row in rows], dtype=np.int64))
        category_ids = np.array([c for row in rows for c in row], dtype=np.int64)
        return cls(service_ids, indptr, category_ids)

    @classmethod
    def empty(cls) -> ServiceCategories:
        """No services, no categories."""
        return cls(np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int64))
