from __future__ import annotations

import numpy as np

from app.engines.csr import best_entry_per_group, gather_rows, segment_max, top_per_row

# Three rows: [10, 11], [], [12, 13, 14]
INDPTR = np.array([0, 2, 2, 5])
VALUES = np.array([10.0, 11.0, 12.0, 13.0, 14.0])


def test_gather_rows_follows_the_rows_asked_for_empty_and_repeated_ones_included():
    entries, row_of_entry = gather_rows(INDPTR, np.array([2, 1, 0, 2]))
    assert VALUES[entries].tolist() == [12, 13, 14, 10, 11, 12, 13, 14]
    assert row_of_entry.tolist() == [0, 0, 0, 2, 2, 3, 3, 3]
    assert gather_rows(INDPTR, np.array([], np.int64))[0].size == 0


def test_segment_max_gives_empty_segments_the_default():
    assert segment_max(np.array([1.0, 3.0, 2.0]), np.array([0, 2, 0, 1, 0]), empty=-1).tolist() == [-1, 3, -1, 2, -1]
    assert segment_max(np.array([]), np.array([0, 0])).tolist() == [0, 0]


def test_best_entry_per_group_breaks_ties_by_position():
    values = np.array([1.0, 5.0, 5.0, 2.0])
    groups = np.array([0, 0, 0, 2])
    assert best_entry_per_group(values, groups, 3).tolist() == [1, -1, 3]


def test_top_per_row_keeps_the_largest_of_each_row():
    rows = np.array([1, 0, 1, 1, 0])
    values = np.array([0.2, 0.5, 0.9, 0.4, 0.1])
    kept, indptr = top_per_row(rows, values, n_rows=3, most=2)
    assert values[kept].tolist() == [0.5, 0.1, 0.9, 0.4] and indptr.tolist() == [0, 2, 4, 4]
