"""The panel re-ranked from an engine's pool: the engine's order when nothing is asked,
variety of categories and providers with `diversity`, a cap per provider, and services
shown without a click moving down with `rotation`."""
import numpy as np
import pytest

from app.engines.reranking import FREE_SHOWS, Shaping, freshness, pool_size, rerank

# A pool, best first: the engine's top four share category 1 and provider 10.
CATEGORIES = [(1,), (1,), (1,), (1,), (2,), (3,), (2, 3), ()]
PROVIDERS = [(10,), (10,), (10,), (10,), (11,), (12,), (10,), ()]


def test_nothing_asked_is_the_engines_order():
    assert rerank(3, CATEGORIES, PROVIDERS, Shaping()).tolist() == [0, 1, 2]
    assert rerank(20, CATEGORIES, PROVIDERS, Shaping()).tolist() == list(range(8))
    assert not Shaping().active and Shaping(diversity=0.1).active and Shaping(max_per_provider=2).active


def test_full_diversity_spreads_categories_and_providers_keeping_the_engines_order_among_equals():
    panel = rerank(3, CATEGORIES, PROVIDERS, Shaping(diversity=1.0)).tolist()
    assert panel == [0, 4, 5]  # the first, then the best two sharing nothing with it or each other
    categories = {c for place in panel for c in CATEGORIES[place]}
    assert len(categories) > len({c for place in (0, 1, 2) for c in CATEGORIES[place]})


def test_diversity_trades_score_for_variety_step_by_step():
    distinct = []
    for diversity in (0.0, 0.3, 0.6, 1.0):
        panel = rerank(4, CATEGORIES, PROVIDERS, Shaping(diversity=diversity))
        distinct.append(len({c for place in panel for c in CATEGORIES[place]}))
        assert panel[0] == 0  # the engine's best always leads: every candidate is as new in the first slot
    assert distinct == sorted(distinct) and distinct[0] == 1 and distinct[-1] == 3


def test_max_per_provider_is_a_cap_and_a_short_pool_gives_a_short_panel():
    panel = rerank(3, CATEGORIES, PROVIDERS, Shaping(max_per_provider=1)).tolist()
    assert panel == [0, 4, 5]
    assert rerank(8, CATEGORIES, PROVIDERS, Shaping(max_per_provider=2)).tolist() == [0, 1, 4, 5, 7]
    # A service of several providers counts for each: (10, 11) is closed once 11 is full.
    assert rerank(3, [(), (), ()], [(11,), (10, 11), (10,)], Shaping(max_per_provider=1)).tolist() == [0, 2]


def test_rotation_moves_down_what_was_shown_without_a_click_beyond_the_free_showing():
    shows = np.array([3, 3, 0, 0, 0, 0, 0, 0])
    assert rerank(3, CATEGORIES, PROVIDERS, Shaping(rotation=1.0), shows).tolist() == [2, 3, 4]
    # Shown twice: (1 - 0.5)^1 of its relevance, 0.5 for the best, as much as the fifth's: down, not out.
    half = rerank(3, CATEGORIES, PROVIDERS, Shaping(rotation=0.5), np.array([2, 2, 0, 0, 0, 0, 0, 0])).tolist()
    assert half == [2, 3, 0]
    once = np.full(8, FREE_SHOWS)
    assert rerank(3, CATEGORIES, PROVIDERS, Shaping(rotation=1.0), once).tolist() == [0, 1, 2]
    assert freshness(np.array([0, 1, 2, 3]), 0.5).tolist() == [1.0, 1.0, 0.5, 0.25]


def test_a_returning_visitor_who_never_clicks_sees_new_services():
    """Ten visits to one page, each panel's services counted as shown: rotation brings the
    rest of the pool in; without it the same three every time."""
    pool = 30
    categories, providers = [(i % 5,) for i in range(pool)], [(i % 7,) for i in range(pool)]

    def distinct_after_ten_visits(rotation: float) -> int:
        shows, seen = np.zeros(pool), set()
        for _ in range(10):
            panel = rerank(3, categories, providers, Shaping(rotation=rotation), shows)
            shows[panel] += 1
            seen.update(panel.tolist())
        return len(seen)

    assert distinct_after_ten_visits(0.0) == 3
    assert distinct_after_ten_visits(0.5) > 9


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        rerank(3, CATEGORIES, PROVIDERS[:-1], Shaping())
    with pytest.raises(ValueError):
        rerank(3, CATEGORIES, PROVIDERS, Shaping(), np.zeros(3))
    for bad in ({"diversity": 1.5}, {"rotation": -0.1}, {"max_per_provider": 0}):
        with pytest.raises(ValueError):
            Shaping(**bad)


def test_an_empty_pool_gives_an_empty_panel_and_the_pool_grows_with_the_panel():
    assert rerank(3, [], [], Shaping(diversity=0.5)).tolist() == []
    assert pool_size(3) == 30 and pool_size(20) == 80
