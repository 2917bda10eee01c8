"""The inner-product index: flat is exact, HNSW finds nearly the same rows, both honour `allowed`."""
import numpy as np
import pytest

from app.engines.ann import InnerProductIndex


def clustered_keys(n: int = 4000, d: int = 12, seed: int = 0) -> np.ndarray:
    """Keys in a few clusters with varied norms, as trained factors are."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, d)) * 2.0
    keys = centres[rng.integers(0, 20, n)] + rng.standard_normal((n, d)) * 0.5
    return (keys * rng.uniform(0.5, 2.0, (n, 1))).astype(np.float32)


def best_rows(keys: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    scores = keys @ query
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    return np.argsort(-scores, kind="stable")[:k]


def test_flat_returns_the_largest_inner_products_best_first():
    keys = clustered_keys()
    query = np.random.default_rng(1).standard_normal(keys.shape[1]).astype(np.float32)
    rows = InnerProductIndex(keys, "flat").search(query, 50)
    assert rows.tolist() == best_rows(keys, query, 50).tolist()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("every", [7, 3])  # a seventh allowed (searched flat), two thirds (HNSW walks past the rest)
def test_only_allowed_rows_come_back_and_never_more_than_there_are(kind, every):
    keys = clustered_keys()
    allowed = np.arange(len(keys)) % every == 0 if every == 7 else np.arange(len(keys)) % every != 0
    query = np.random.default_rng(2).standard_normal(keys.shape[1]).astype(np.float32)
    index = InnerProductIndex(keys, kind)
    rows = index.search(query, 100, allowed)
    assert len(rows) == 100 and allowed[rows].all()
    few = np.zeros(len(keys), bool)
    few[[3, 99, 1234]] = True
    assert sorted(index.search(query, 100, few).tolist()) == [3, 99, 1234]
    assert index.search(query, 100, np.zeros(len(keys), bool)).size == 0


def test_hnsw_finds_nearly_every_row_flat_finds():
    keys = clustered_keys()
    queries = np.random.default_rng(3).standard_normal((50, keys.shape[1])).astype(np.float32)
    index = InnerProductIndex(keys, "hnsw")
    found = [len(set(index.search(q, 100).tolist()) & set(best_rows(keys, q, 100).tolist())) / 100 for q in queries]
    assert np.mean(found) >= 0.95, np.mean(found)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="flat"):
        InnerProductIndex(clustered_keys(10), "lsh")
