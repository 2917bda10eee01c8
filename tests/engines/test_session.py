from __future__ import annotations

import numpy as np
import pytest

from app.engines import (
    EngineNotReady,
    EvidenceKind,
    Interactions,
    InteractionType,
    RecommendationContext,
    Session,
    SessionParams,
    explain,
    fit_session,
)
from tests.engines.toy_marketplace import (
    SERVICES_OF_CATEGORY,
    toy_marketplace,
)

HOUR, DAY = 3_600.0, 86_400.0
NOW = 1_700_000_000.0
VIEW, CLICK, ORDER = InteractionType.VIEW, InteractionType.CLICK, InteractionType.ORDER


def _fit(journeys: list[list[tuple[int, int, float]]], **params) -> Session:
    """journeys: one list per visitor of (service id, type, hours after the visit began); a day apart."""
    rows = [(visitor, service, kind, NOW - 30 * DAY + visitor * DAY + hours * HOUR)
            for visitor, journey in enumerate(journeys) for service, kind, hours in journey]
    keys, services, types, times = (np.array(column) for column in zip(*rows))
    return Session(fit_session(keys, services, types, times, SessionParams(**params)))


def _visitor(*events: tuple[int, int]) -> Interactions:
    """A session of (service id, type), a minute apart, the last one now."""
    times = NOW - 60.0 * np.arange(len(events))[::-1]
    return Interactions(np.array([s for s, _ in events]), np.array([t for _, t in events]), times)


def _recommend(engine: Session, candidates, k=3, **context):
    return engine.recommend(RecommendationContext(candidates=np.array(candidates), k=k, now=NOW, **context))


def test_an_anonymous_visitor_browsing_one_category_gets_that_categorys_services_first():
    toy = toy_marketplace()
    engine = Session(fit_session(toy.user_ids, toy.service_ids, toy.types, toy.timestamps))
    everything = toy.services.tolist()
    answer = _recommend(engine, everything, k=5, unique_id="9f543b80",
                        session=_visitor((201, VIEW), (202, VIEW), (203, CLICK)))
    assert set(answer.ids.tolist()) == set(SERVICES_OF_CATEGORY[2])
    assert {e.service_id for e in answer.evidence} <= {201, 202, 203}
    # The two it has not seen yet are among them, even though seen ones may come back too.
    assert {204, 205} <= set(answer.ids.tolist())


def test_an_order_after_a_service_weighs_more_than_several_views_after_it():
    engine = _fit([[(1, VIEW, 0), (2, VIEW, 0.1)]] * 3 + [[(1, VIEW, 0), (3, ORDER, 0.1)]])
    assert _recommend(engine, [2, 3], session=_visitor((1, VIEW))).ids.tolist() == [3, 2]


def test_a_page_reloaded_many_times_counts_once():
    engine = _fit([[(1, VIEW, 0), (2, VIEW, 0.1), (1, VIEW, 0.2), (2, VIEW, 0.3), (1, VIEW, 0.4), (2, VIEW, 0.5)],
                   [(1, VIEW, 0), (3, VIEW, 0.1)], [(1, VIEW, 0), (3, VIEW, 0.1)]])
    assert _recommend(engine, [2, 3], session=_visitor((1, VIEW))).ids.tolist() == [3, 2]


def test_events_further_apart_than_the_window_or_the_neighbours_do_not_pair():
    engine = _fit([[(1, VIEW, 0), (2, VIEW, 30)], [(1, VIEW, 0), (4, VIEW, 0.1), (5, VIEW, 0.2), (3, VIEW, 0.3)]],
                  window_seconds=DAY, events_ahead=2)
    assert sorted(_recommend(engine, [2, 3, 4, 5], k=4, session=_visitor((1, VIEW))).ids.tolist()) == [4, 5]


def test_orders_days_apart_pair_and_are_explained_as_ordered_together():
    engine = _fit([[(1, ORDER, 0), (2, ORDER, 72)]] * 2 + [[(1, VIEW, 0), (3, VIEW, 0.1)]])
    answer = _recommend(engine, [2, 3], k=1, session=_visitor((1, ORDER)))
    assert answer.ids.tolist() == [2]
    evidence = answer.evidence[0]
    assert (evidence.kind, evidence.service_id) == (EvidenceKind.CO_ORDERED, 1)
    names = {"services": {1: "EGI Cloud Compute"}}
    assert explain(evidence, names) == ("Ordered by users who also ordered EGI Cloud Compute",
                                        "Users also ordered EGI Cloud Compute")


def test_the_latest_events_count_most_and_the_session_comes_after_the_history():
    engine = _fit([[(1, VIEW, 0), (2, VIEW, 0.1)], [(3, VIEW, 0), (4, VIEW, 0.1)]])
    assert _recommend(engine, [2, 4], session=_visitor((1, VIEW), (3, VIEW))).ids.tolist() == [4, 2]
    # History stamped later than the session still counts as older: the session is this visit.
    history = Interactions(np.array([3]), np.array([VIEW]), np.array([NOW + HOUR]))
    assert _recommend(engine, [2, 4], history=history, session=_visitor((1, VIEW))).ids.tolist() == [2, 4]


def test_each_service_keeps_only_its_strongest_neighbours():
    engine = _fit([[(1, VIEW, 0), (2, ORDER, 0.1)], [(1, VIEW, 0), (3, CLICK, 0.1)], [(1, VIEW, 0), (4, VIEW, 0.1)]],
                  top_neighbours=2)
    assert _recommend(engine, [2, 3, 4], session=_visitor((1, VIEW))).ids.tolist() == [2, 3]


def test_a_visitor_with_nothing_known_gets_nothing_and_no_error():
    engine = _fit([[(1, VIEW, 0), (2, VIEW, 0.1)]])
    assert len(_recommend(engine, [1, 2])) == 0
    assert len(_recommend(engine, [1, 2], session=_visitor((77, VIEW)))) == 0
    np.testing.assert_array_equal(engine.score(RecommendationContext(candidates=[1], k=1, now=NOW), [1, 2]), [0, 0])


def test_sequence_keys_may_be_visitor_ids_as_strings():
    keys = np.array(["5642c351", "5642c351", "9f543b80", "9f543b80"])
    model = fit_session(keys, np.array([1, 2, 1, 3]), np.full(4, VIEW), NOW + np.arange(4.0))
    assert _recommend(Session(model), [2, 3], session=_visitor((1, VIEW))).ids.size == 2


def test_fitting_on_nothing_gives_a_model_that_recommends_nothing():
    model = fit_session(np.array([], np.int64), np.array([], np.int64), np.array([], np.int8), np.array([]))
    assert len(_recommend(Session(model), [1, 2], session=_visitor((1, VIEW)))) == 0


def test_without_a_model_it_is_not_ready():
    engine = Session()
    assert not engine.ready
    with pytest.raises(EngineNotReady):
        engine.recommend(RecommendationContext(candidates=np.array([1]), k=1, now=NOW))


# --- objectives -------------------------------------------------------------------------------

CART = InteractionType.CART


def test_each_objective_follows_its_own_kind_of_next_step():
    # After 1, many click 2 and go no further; a few order 3; some put 4 in their cart.
    engine = _fit([[(1, VIEW, 0), (2, CLICK, 0.1)]] * 8 + [[(1, VIEW, 0), (3, ORDER, 0.1)]] * 2
                  + [[(1, VIEW, 0), (4, CART, 0.1)]] * 3)
    seen = _visitor((1, VIEW))
    assert _recommend(engine, [2, 3, 4], k=1, session=seen).ids.tolist() == [3]  # the default: the order objective
    assert _recommend(engine, [2, 3, 4], k=1, session=seen, objective="click").ids.tolist() == [2]
    assert _recommend(engine, [2, 3, 4], k=1, session=seen, objective="cart").ids.tolist() == [4]


def test_a_version_stored_before_objectives_votes_with_its_order_neighbours_for_every_objective():
    engine = _fit([[(1, VIEW, 0), (2, CLICK, 0.1)]] * 8 + [[(1, VIEW, 0), (3, ORDER, 0.1)]] * 2)
    model = engine.model
    arrays = {name: array for name, array in model.to_arrays().items()
              if not name.startswith(("click_", "cart_"))}
    params = {key: value for key, value in model.params().items() if key != "objective_type_weights"}
    old = Session(type(model).from_arrays(arrays, params))
    assert old.model.click_neighbour_indptr is None
    for objective in ("click", "cart"):
        assert _recommend(old, [2, 3], k=1, session=_visitor((1, VIEW)), objective=objective).ids.tolist() == [3]
