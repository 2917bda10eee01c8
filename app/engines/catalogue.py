"""What engines know about services themselves: their ids and their categories."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from app.engines.csr import row_lengths_to_indptr


class IdIndex:
    """Sorted, unique ids (of services, of categories): a model's rows, and the lookup from any ids to them."""

    def __init__(self, ids: np.ndarray):
        self.ids = np.unique(np.asarray(ids, dtype=np.int64))  # (s,) sorted

    def __len__(self) -> int:
        return int(self.ids.size)

    def positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the given ids: `positions` (n,) int64 (0 where unknown) and `known` (n,) bool."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.ids.size == 0:
            return np.zeros(ids.size, np.int64), np.zeros(ids.size, bool)
        positions = np.minimum(np.searchsorted(self.ids, ids), self.ids.size - 1)
        known = self.ids[positions] == ids
        return np.where(known, positions, 0), known

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
