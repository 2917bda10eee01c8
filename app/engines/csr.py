"""Row operations on CSR-shaped arrays (indptr + per-entry arrays), vectorised.

Fitted models keep item → neighbours and service → categories as CSR arrays;
a request touches only a few of their rows, so these helpers gather those rows
and reduce within them without a Python loop over entries.
"""
from __future__ import annotations

import numpy as np


def gather_rows(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entries of the given rows, row after row.

    Returns `entries` (e,) int64, indices into the per-entry arrays, and
    `row_of_entry` (e,) int64, the position in `rows` each entry came from.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows]  # (r,)
    lengths = indptr[rows + 1] - starts  # (r,)
    row_of_entry = np.repeat(np.arange(rows.size, dtype=np.int64), lengths)
    first_of_row = np.cumsum(lengths) - lengths  # (r,) where each row starts in the output
    entries = np.repeat(starts - first_of_row, lengths) + np.arange(row_of_entry.size, dtype=np.int64)
    return entries, row_of_entry


def row_lengths_to_indptr(lengths: np.ndarray) -> np.ndarray:
    """(r,) row lengths to the (r + 1,) int64 indptr of a CSR structure."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return indptr


def segment_max(values: np.ndarray, lengths: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """The largest value of each consecutive segment of `values`; `empty` for a segment of length 0."""
    lengths = np.asarray(lengths, dtype=np.int64)
    result = np.full(lengths.size, empty, dtype=np.float64)
    filled = lengths > 0
    if values.size:
        starts = (np.cumsum(lengths) - lengths)[filled]
        result[filled] = np.maximum.reduceat(values, starts)
    return result


def best_entry_per_group(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """For each group 0..n_groups-1, the index of its entry with the largest value (-1 if none).

    Ties go to the earliest entry, so the answer is deterministic.
    """
    best = np.full(n_groups, -1, dtype=np.int64)
    if values.size == 0:
        return best
    order = np.lexsort((-values, groups))  # by group, then largest value first, stable
    sorted_groups = groups[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_groups[1:] != sorted_groups[:-1]
    best[sorted_groups[first]] = order[first]
    return best


def top_per_row(rows: np.ndarray, values: np.ndarray, n_rows: int, most: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most `most` largest-valued entries of each row.

    `rows` (e,) gives each entry's row. Returns `kept` (e',) int64 indices of the
    kept entries, grouped by row ascending and largest first within a row, and
    the (n_rows + 1,) indptr of that selection.
    """
    order = np.lexsort((-values, rows))
    sorted_rows = rows[order]
    row_starts = np.searchsorted(sorted_rows, np.arange(n_rows))  # (n_rows,)
    rank_in_row = np.arange(order.size) - row_starts[sorted_rows]
    kept = order[rank_in_row < most]
    return kept, row_lengths_to_indptr(np.bincount(rows[kept], minlength=n_rows))
