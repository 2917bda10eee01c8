from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from app.engines import (
    Interactions,
    InteractionType,
    RecommendationContext,
    encode_types,
)
from app.engines.base import ranked_positions

NOW = 1_700_000_000.0


def test_duplicate_candidates_are_dropped_keeping_the_callers_order():
    context = RecommendationContext(candidates=[5, 3, 5, 9, 3], k=2, now=NOW)
    assert context.candidates.tolist() == [5, 3, 9] and context.candidates.dtype == np.int64


def test_a_negative_k_is_refused():
    with pytest.raises(ValueError):
        RecommendationContext(candidates=[1], k=-1, now=NOW)


def test_the_session_follows_the_history():
    history = Interactions([1, 2], encode_types(["view", "order"]), [NOW - 20, NOW - 10])
    session = Interactions.from_records([(4, "click", NOW - 100), (3, "view", NOW - 200)])
    context = RecommendationContext(candidates=[1], k=1, now=NOW, history=history, session=session)
    assert context.interactions.service_ids.tolist() == [1, 2, 3, 4]
    assert context.interactions.types.tolist() == [InteractionType.VIEW, InteractionType.ORDER,
                                                   InteractionType.VIEW, InteractionType.CLICK]


def test_type_names_are_encoded_and_unknown_ones_count_as_views():
    assert encode_types(["order", "Cart", "click", "view", "bookmark"]).tolist() == [3, 2, 1, 0, 0]


def test_interaction_arrays_must_line_up():
    with pytest.raises(ValueError):
        Interactions([1, 2], [0], [NOW, NOW])


def test_user_features_become_tuples_of_ints():
    context = RecommendationContext(candidates=[1], k=1, now=NOW, user_features={"categories": [np.int64(3), 4]})
    assert context.user_features == {"categories": (3, 4)}


@pytest.mark.parametrize("k", [None, 0, 1, 3, 5, 6, 10])
def test_ranked_positions_take_the_best_and_break_ties_by_position(k):
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9, 0.5])
    expected = [1, 4, 0, 2, 5, 3]
    assert ranked_positions(scores, k).tolist() == expected[:k]



def test_records_may_carry_datetimes_and_a_naive_one_is_utc():
    naive = datetime(2021, 3, 18, 19, 33, 21)
    aware = datetime(2021, 3, 18, 19, 33, 22, tzinfo=UTC)
    interactions = Interactions.from_records([(7, "order", aware), (5, "view", naive)])
    assert interactions.service_ids.tolist() == [5, 7]
    assert interactions.timestamps.tolist() == [1616096001.0, 1616096002.0]
