import pytest

from app.recommendations.choice import choose_engine, fallback_chain

EVERYTHING = {"NCF", "NCFRanking", "RL", "Session", "Popularity", "Random", "RandomRanking"}
NOTHING_TRAINED = {"Popularity", "Session", "Random", "RandomRanking"}


def test_the_requested_engine_serves_when_ready():
    assert choose_engine("RL", "NCF", EVERYTHING, logged_in=True, has_events=False) == "RL"


def test_an_unready_request_falls_to_the_configured_default():
    assert choose_engine("RL", "Popularity", NOTHING_TRAINED, logged_in=True, has_events=True) == "Popularity"


@pytest.mark.parametrize(
    "logged_in, has_events, expected",
    [(True, False, "NCF"), (False, True, "Session"), (False, False, "Popularity"), (True, True, "NCF")],
)
def test_the_chain_fits_who_is_asking(logged_in, has_events, expected):
    ready = EVERYTHING - {"RL"}
    assert choose_engine("RL", "RL", ready, logged_in=logged_in, has_events=has_events) == expected


def test_without_models_a_logged_in_user_gets_session_or_popularity():
    assert choose_engine(None, "NCF", NOTHING_TRAINED, logged_in=True, has_events=True) == "Session"
    assert choose_engine(None, "NCF", NOTHING_TRAINED, logged_in=True, has_events=False) == "Popularity"


def test_a_ranking_request_never_degrades_to_top_k():
    chain = fallback_chain("NCFRanking", "Popularity", logged_in=True, has_events=True)
    assert chain == ["NCFRanking", "RandomRanking"]
    assert choose_engine("NCFRanking", "NCF", NOTHING_TRAINED, logged_in=True, has_events=True) == "RandomRanking"


def test_unknown_names_are_ignored_and_random_is_the_last_resort():
    assert fallback_chain("Magic", "Nope", logged_in=False, has_events=False) == ["Popularity", "Random"]
    assert choose_engine("Magic", "Nope", set(), logged_in=False, has_events=False) == "Random"


def test_without_a_default_the_chain_fits_who_is_asking():
    assert fallback_chain("Magic", None, logged_in=False, has_events=True) == ["Session", "Popularity", "Random"]
    assert choose_engine(None, None, EVERYTHING, logged_in=True, has_events=True) == "NCF"
