"""The per-engine cache of users' scores over the catalogue."""
import threading

import numpy as np
import pytest

from app.engines.score_cache import ScoreCache


def test_a_kept_vector_comes_back_read_only():
    cache = ScoreCache(1000)
    cache.put("a", np.arange(10.0))
    vector = cache.get("a")
    np.testing.assert_array_equal(vector, np.arange(10.0))
    with pytest.raises(ValueError):
        vector[0] = 5.0
    assert cache.get("b") is None and (cache.hits, cache.misses) == (1, 1)


def test_the_least_recently_used_go_first_when_over_budget():
    cache = ScoreCache(3 * 80)  # three vectors of ten float64
    for key in "abc":
        cache.put(key, np.zeros(10))
    cache.get("a")  # now b is the least recently used
    cache.put("d", np.zeros(10))
    assert [key for key in "abcd" if cache.get(key) is not None] == ["a", "c", "d"]


def test_a_vector_larger_than_the_budget_is_not_kept():
    cache = ScoreCache(79)
    cache.put("a", np.zeros(10))
    assert cache.get("a") is None and len(cache) == 0


def test_threads_putting_and_getting_keep_the_budget():
    cache = ScoreCache(50 * 80)

    def work(start):
        for key in range(start, start + 500):
            cache.put(key % 120, np.full(10, float(key % 120)))
            found = cache.get((key * 7) % 120)
            assert found is None or found[0] == (key * 7) % 120

    threads = [threading.Thread(target=work, args=(n * 500,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 50
