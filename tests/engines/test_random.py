from __future__ import annotations

import numpy as np

from app.engines import EvidenceKind, Random, RandomRanking, RecommendationContext

NOW = 1_700_000_000.0
CANDIDATES = np.arange(1, 51, dtype=np.int64)


def _context(seed=None, k=3, candidates=CANDIDATES) -> RecommendationContext:
    return RecommendationContext(candidates=candidates, k=k, now=NOW, seed=seed)


def test_a_seed_gives_the_same_draw_and_another_seed_another():
    assert Random().recommend(_context(seed=1)).ids.tolist() == Random().recommend(_context(seed=1)).ids.tolist()
    draws = {tuple(Random().recommend(_context(seed=seed)).ids.tolist()) for seed in range(20)}
    assert len(draws) > 15


def test_without_a_seed_each_request_draws_afresh():
    draws = {tuple(Random().recommend(_context(k=5)).ids.tolist()) for _ in range(10)}
    assert len(draws) > 5


def test_every_candidate_is_equally_likely_to_come_first():
    candidates = np.arange(100, 110, dtype=np.int64)
    firsts = [Random().recommend(_context(seed=seed, k=1, candidates=candidates)).ids[0] for seed in range(3000)]
    counts = np.bincount(np.array(firsts) - 100, minlength=10)
    assert counts.min() > 220 and counts.max() < 380  # 300 each expected; 5 standard deviations is ~ ±80


def test_an_ids_score_does_not_depend_on_the_other_ids_asked_about():
    context = _context(seed=7)
    alone = Random().score(context, np.array([17]))
    among_others = Random().score(context, np.array([3, 17, 42]))
    assert alone[0] == among_others[1]


def test_ranking_returns_every_candidate_in_a_random_order_whatever_k():
    answer = RandomRanking().recommend(_context(seed=3, k=2))
    assert sorted(answer.ids.tolist()) == CANDIDATES.tolist()
    assert answer.ids.tolist() != CANDIDATES.tolist()
    assert (np.diff(answer.scores) < 0).all()


def test_says_it_chose_at_random():
    assert {e.kind for e in Random().recommend(_context()).evidence} == {EvidenceKind.RANDOM}


def test_random_engines_are_always_ready_and_not_deterministic():
    for engine in (Random(), RandomRanking()):
        assert engine.ready and not engine.deterministic
    assert (Random().name, RandomRanking().name) == ("Random", "RandomRanking")
