"""IdIndex: the lookup from ids to a model's rows, by table where ids are dense, else by search."""
import numpy as np
import pytest

from app.engines.catalogue import IdIndex

INT64 = np.iinfo(np.int64)


def by_search(ids) -> IdIndex:
    index = IdIndex(ids)
    index._table = False  # the sparse path, as for ids too spread out for a table
    return index


@pytest.mark.parametrize("ids", [
    np.arange(1, 10_001) + np.random.default_rng(0).integers(0, 2, 10_000).cumsum(),  # dense, with gaps
    np.array([7]),
    np.arange(-100, 100),
    np.array([5, 2**40, -3]),  # sparse: searched
    np.array([INT64.min, INT64.max]),
])
def test_the_table_and_the_search_find_the_same_rows(ids):
    rng = np.random.default_rng(1)
    edges = [INT64.min, INT64.max, ids.min(), ids.max(), max(int(ids.min()) - 1, INT64.min)]
    asked = np.concatenate([rng.choice(ids, 300), rng.integers(-5, 25_000, 300), edges]).astype(np.int64)
    rows, known = IdIndex(ids).positions(asked)
    expected_rows, expected_known = by_search(ids).positions(asked)
    assert known.tolist() == expected_known.tolist() and rows.tolist() == expected_rows.tolist()
    sorted_ids = np.unique(ids)
    assert (sorted_ids[rows[known]] == asked[known]).all()
    assert not np.isin(asked[~known], sorted_ids).any() and (rows[~known] == 0).all()


def test_dense_ids_get_a_table_and_spread_out_ones_do_not():
    dense, sparse = IdIndex(np.arange(0, 30_000, 3)), IdIndex(np.arange(0, 10**9, 10**5))
    dense.positions(np.array([3])), sparse.positions(np.array([3]))
    assert isinstance(dense._table, np.ndarray) and sparse._table is False


def test_an_empty_index_knows_nothing():
    rows, known = IdIndex(np.empty(0, np.int64)).positions(np.array([1, 2]))
    assert rows.tolist() == [0, 0] and known.tolist() == [False, False]
    rows, known = IdIndex(np.array([1])).positions(np.empty(0, np.int64))
    assert rows.size == known.size == 0
