from __future__ import annotations

import numpy as np
import pytest

from app.engines import (
    EngineNotReady,
    EvidenceKind,
    Interactions,
    InteractionType,
    Popularity,
    PopularityParams,
    RecommendationContext,
    ServiceCategories,
    explain,
    fit_popularity,
)
from tests.engines.toy_marketplace import (
    SERVICES_OF_CATEGORY,
    service_names,
    toy_marketplace,
)

DAY = 86_400.0
NOW = 1_700_000_000.0
VIEW, ORDER = InteractionType.VIEW, InteractionType.ORDER


def _fit(events: list[tuple[int, int, float]], categories=None, **params) -> Popularity:
    """events: (service id, type, days ago)."""
    service_ids, types, days_ago = (np.array(column) for column in zip(*events))
    model = fit_popularity(service_ids, types, NOW - days_ago * DAY, categories, PopularityParams(**params),
                           reference_time=NOW)
    return Popularity(model)


def _top(engine: Popularity, candidates, k=3, **context) -> list[int]:
    context = RecommendationContext(candidates=np.array(candidates), k=k, now=NOW, **context)
    return engine.recommend(context).ids.tolist()


def test_decay_ranks_a_recent_service_above_an_old_one_with_as_many_interactions():
    engine = _fit([(1, VIEW, 90), (1, VIEW, 91), (2, VIEW, 1), (2, VIEW, 2)], half_life_seconds=30 * DAY)
    assert _top(engine, [1, 2]) == [2, 1]


def test_equally_popular_services_keep_the_callers_order():
    engine = _fit([(1, VIEW, 5), (2, VIEW, 5)])
    assert _top(engine, [1, 2]) == [1, 2]
    assert _top(engine, [2, 1]) == [2, 1]


def test_an_order_weighs_more_than_several_views():
    engine = _fit([(1, VIEW, 1), (1, VIEW, 1), (1, VIEW, 1), (2, ORDER, 1)])
    assert _top(engine, [1, 2]) == [2, 1]


def test_type_weights_are_a_parameter():
    engine = _fit([(1, VIEW, 1), (1, VIEW, 1), (1, VIEW, 1), (2, ORDER, 1)],
                  type_weights={"view": 1.0, "click": 1.0, "cart": 1.0, "order": 1.0})
    assert _top(engine, [1, 2]) == [1, 2]


@pytest.fixture(scope="module")
def toy_engine() -> Popularity:
    toy = toy_marketplace()
    return Popularity(fit_popularity(toy.service_ids, toy.types, toy.timestamps, toy.categories))


ALL_SERVICES = [s for ids in SERVICES_OF_CATEGORY.values() for s in ids]


def test_a_visitor_with_features_but_not_in_the_dump_gets_their_categorys_services(toy_engine):
    top = _top(toy_engine, ALL_SERVICES, user_id=424242, user_features={"categories": (2,)})
    assert set(top) <= set(SERVICES_OF_CATEGORY[2])
    evidence = toy_engine.recommend(RecommendationContext(candidates=np.array(ALL_SERVICES), k=1, now=NOW,
                                                          user_features={"categories": (2,)})).evidence[0]
    assert (evidence.kind, evidence.category_id) == (EvidenceKind.POPULAR_IN_CATEGORY, 2)
    assert explain(evidence, service_names())[1] == "Popular in Storage"


def test_without_features_the_categories_of_the_history_lean_the_ranking(toy_engine):
    history = Interactions(np.array([301, 302]), np.array([VIEW, VIEW]), np.array([NOW - 600, NOW - 300]))
    assert set(_top(toy_engine, ALL_SERVICES, history=history)) <= set(SERVICES_OF_CATEGORY[3])


def test_with_no_categories_known_it_is_plain_popularity(toy_engine):
    plain = _top(toy_engine, ALL_SERVICES, k=5)
    assert _top(toy_engine, ALL_SERVICES, k=5, user_features={"categories": (99,)}) == plain
    overall = toy_engine.model.popularity[toy_engine.index.positions(np.array(ALL_SERVICES))[0]]
    assert plain == np.array(ALL_SERVICES)[np.argsort(-overall, kind="stable")][:5].tolist()
    context = RecommendationContext(candidates=np.array(ALL_SERVICES), k=5, now=NOW)
    assert {e.kind for e in toy_engine.recommend(context).evidence} == {EvidenceKind.POPULAR}


def test_a_service_nobody_used_is_not_called_popular():
    categories = ServiceCategories.from_mapping({1: [1], 2: [1], 3: [1]})
    engine = _fit([(1, VIEW, 1), (2, VIEW, 1)], categories)
    assert _top(engine, [1, 2, 3], user_features={"categories": (1,)}) == [1, 2]


def test_without_a_model_it_is_not_ready():
    engine = Popularity()
    assert not engine.ready
    context = RecommendationContext(candidates=np.array([1, 2]), k=2, now=NOW)
    with pytest.raises(EngineNotReady):
        engine.recommend(context)
    with pytest.raises(EngineNotReady):
        engine.score(context, np.array([1]))


def test_fitting_on_nothing_gives_a_model_that_recommends_nothing():
    model = fit_popularity(np.array([], np.int64), np.array([], np.int8), np.array([]))
    assert len(_top(Popularity(model), [1, 2], user_features={"categories": (1,)})) == 0


# --- objectives -------------------------------------------------------------------------------

CLICK, CART = InteractionType.CLICK, InteractionType.CART
# Service 1 is clicked by many and ordered by none; 2 is ordered by a few; 3 is put in carts.
BY_KIND = [(1, CLICK, 1)] * 12 + [(2, ORDER, 1)] * 3 + [(3, CART, 1)] * 4


def test_each_objective_counts_its_own_kind_of_interaction():
    engine = _fit(BY_KIND)
    assert _top(engine, [1, 2, 3], k=1) == [2]  # the order objective, the default: what panels always did
    assert _top(engine, [1, 2, 3], k=1, objective="order") == [2]
    assert _top(engine, [1, 2, 3], k=1, objective="click") == [1]
    assert _top(engine, [1, 2, 3], k=1, objective="cart") == [3]


def test_an_objective_weighs_as_its_parameters_say():
    engine = _fit(BY_KIND, objective_type_weights={"click": {"order": 1.0}, "cart": {"click": 1.0}})
    assert _top(engine, [1, 2, 3], k=1, objective="click") == [2]
    assert _top(engine, [1, 2, 3], k=1, objective="cart") == [1]


def test_a_version_stored_before_objectives_serves_every_objective_as_it_served_panels():
    model = _fit(BY_KIND).model
    arrays = {name: array for name, array in model.to_arrays().items() if name != "type_counts"}
    params = {key: value for key, value in model.params().items() if key != "objective_type_weights"}
    old = Popularity(type(model).from_arrays(arrays, params))
    assert old.model.type_counts is None
    for objective in ("click", "cart", "order"):
        assert _top(old, [1, 2, 3], objective=objective) == _top(old, [1, 2, 3])


def test_an_unknown_objective_is_refused():
    with pytest.raises(ValueError):
        RecommendationContext(candidates=np.array([1]), k=1, now=NOW, objective="bookmark")
