"""The contract every engine honours, checked against every engine on the same toy marketplace.

A new engine joins by adding one line to ENGINES.
"""
from __future__ import annotations

import numpy as np
import pytest

from app.engines import (
    NCF,
    RL,
    Engine,
    Evidence,
    Interactions,
    NCFRanking,
    Popularity,
    Random,
    RandomRanking,
    RecommendationContext,
    Recommendations,
    ServiceContent,
    Session,
    SimilarServices,
    explain,
    fit_popularity,
    fit_session,
)
from tests.engines.test_ncf import toy_ncf_model
from tests.engines.test_rl import toy_rl_model
from tests.engines.toy_marketplace import (
    SERVICES_OF_CATEGORY,
    UNSEEN_SERVICES,
    service_names,
    toy_marketplace,
)

TOY = toy_marketplace()

ENGINES = {
    "Random": lambda toy: Random(),
    "RandomRanking": lambda toy: RandomRanking(),
    "Popularity": lambda toy: Popularity(fit_popularity(toy.service_ids, toy.types, toy.timestamps, toy.categories)),
    "Session": lambda toy: Session(fit_session(toy.user_ids, toy.service_ids, toy.types, toy.timestamps)),
    "NCF": lambda toy: NCF(toy_ncf_model(toy)),
    "NCFRanking": lambda toy: NCFRanking(toy_ncf_model(toy)),
    "RL": lambda toy: RL(toy_rl_model(toy)),
    "RL exploring": lambda toy: RL(toy_rl_model(toy), exploration_epsilon=0.5),
    "Similar": lambda toy: SimilarServices(_toy_content(),
                                           fit_session(toy.user_ids, toy.service_ids, toy.types, toy.timestamps)),
}


def _toy_content() -> ServiceContent:
    """The toy catalogue's categories and names (the unseen services are in the first category)."""
    category_of = {s: c for c, ids in SERVICES_OF_CATEGORY.items() for s in ids} | dict.fromkeys(UNSEEN_SERVICES, 1)
    ids = sorted(category_of)
    names = service_names()["services"]
    return ServiceContent.build(ids, {"categories": [[category_of[s]] for s in ids], "providers": [[1]] * len(ids)},
                                [names.get(s, f"New service {s}") for s in ids])
# Ranking engines that answer nothing for a visitor they cannot model (no trained row, no known
# features), so that the caller falls back, rather than a ranking that means nothing.
ABSTAINING_RANKERS = {"NCFRanking"}


def _contexts(toy) -> dict[str, RecommendationContext]:
    everything = np.concatenate([toy.services, UNSEEN_SERVICES])
    session = Interactions.from_records([(101, "view", toy.now - 300), (102, "click", toy.now - 120)])
    return {
        "known user": RecommendationContext(candidates=everything, k=3, now=toy.now, user_id=1,
                                            history=toy.history_of(1), user_features={"categories": (1,)}),
        "anonymous visitor with a session": RecommendationContext(candidates=everything, k=2, now=toy.now,
                                                                  unique_id="5642c351", session=session),
        "nobody known": RecommendationContext(candidates=everything, k=3, now=toy.now, user_id=987654),
        "new user with declared categories": RecommendationContext(candidates=everything, k=3, now=toy.now,
                                                                   user_id=987655, user_features={"categories": (2,)}),
        "only unseen candidates": RecommendationContext(candidates=np.array(UNSEEN_SERVICES), k=2, now=toy.now,
                                                        session=session),
        "k above the candidates": RecommendationContext(candidates=np.array([101, 203, 305, 9001]), k=10,
                                                        now=toy.now, session=session),
        "no candidates": RecommendationContext(candidates=np.array([], dtype=np.int64), k=3, now=toy.now,
                                               session=session),
        "seeded": RecommendationContext(candidates=everything, k=3, now=toy.now, seed=42, history=toy.history_of(2)),
        "k of zero": RecommendationContext(candidates=everything, k=0, now=toy.now, session=session),
        "on a service's page": RecommendationContext(candidates=everything, k=3, now=toy.now, session=session,
                                                     context_service_id=101),
    }


CONTEXTS = _contexts(TOY)


@pytest.fixture(scope="module", params=list(ENGINES), ids=list(ENGINES))
def engine(request) -> Engine:
    return ENGINES[request.param](TOY)


@pytest.fixture(params=list(CONTEXTS), ids=list(CONTEXTS))
def context(request) -> RecommendationContext:
    return CONTEXTS[request.param]


class TestEngineContract:
    def test_is_ready_and_named(self, engine):
        assert engine.ready
        assert isinstance(engine.name, str) and engine.name

    def test_answer_is_well_formed(self, engine, context):
        answer = engine.recommend(context)
        assert isinstance(answer, Recommendations)
        assert answer.ids.dtype == np.int64
        assert answer.ids.shape == answer.scores.shape == (len(answer.evidence),)
        assert all(isinstance(item, Evidence) for item in answer.evidence)

    def test_only_candidates_without_duplicates(self, engine, context):
        ids = engine.recommend(context).ids
        assert np.isin(ids, context.candidates).all()
        assert np.unique(ids).size == ids.size

    def test_size(self, engine, context):
        ids = engine.recommend(context).ids
        if engine.name in ABSTAINING_RANKERS and ids.size == 0:
            return
        if engine.ranking:
            assert sorted(ids.tolist()) == sorted(context.candidates.tolist())
        else:
            assert ids.size <= min(context.k, context.candidates.size)

    def test_scores_finite_and_descending(self, engine, context):
        scores = engine.recommend(context).scores
        assert np.isfinite(scores).all()
        assert (np.diff(scores) <= 0).all()

    def test_show_probabilities_are_chances(self, engine, context):
        """Off-policy evaluation divides by them: one per item, in (0, 1]; only a certain answer omits them."""
        answer = engine.recommend(context)
        if answer.probabilities is None:
            assert engine.deterministic or engine.ranking or len(answer) == 0
        else:
            assert answer.probabilities.shape == answer.ids.shape
            assert ((answer.probabilities > 0) & (answer.probabilities <= 1)).all()

    def test_scores_agree_with_score(self, engine, context):
        if not engine.deterministic and context.seed is None:
            pytest.skip("an unseeded random engine draws afresh on every call")
        answer = engine.recommend(context)
        np.testing.assert_allclose(engine.score(context, answer.ids), answer.scores)

    def test_same_context_same_answer(self, engine, context):
        if not engine.deterministic and context.seed is None:
            pytest.skip("an unseeded random engine draws afresh on every call")
        first, second = engine.recommend(context), engine.recommend(context)
        np.testing.assert_array_equal(first.ids, second.ids)
        np.testing.assert_array_equal(first.scores, second.scores)
        assert first.evidence == second.evidence

    def test_batch_answers_each_context(self, engine):
        contexts = [c for c in CONTEXTS.values() if engine.deterministic or c.seed is not None]
        for one, batched in zip(contexts, engine.recommend_batch(contexts), strict=True):
            np.testing.assert_array_equal(engine.recommend(one).ids, batched.ids)

    def test_empty_candidates_give_an_empty_answer(self, engine):
        answer = engine.recommend(CONTEXTS["no candidates"])
        assert len(answer) == 0 and answer.evidence == ()

    def test_score_gives_one_finite_value_per_id_in_order(self, engine):
        context = CONTEXTS["seeded"]
        ids = np.array([101, 9001, 305, 202, 101, 9003], dtype=np.int64)  # a repeat and unseen ids too
        scores = engine.score(context, ids)
        assert scores.shape == ids.shape and np.isfinite(scores).all()
        np.testing.assert_array_equal(engine.score(context, ids[::-1]), scores[::-1])
        assert engine.score(context, np.array([], dtype=np.int64)).shape == (0,)

    def test_every_evidence_can_be_explained(self, engine, context):
        for evidence in engine.recommend(context).evidence:
            long, short = explain(evidence, service_names())
            assert long and short and len(short) <= len(long)
