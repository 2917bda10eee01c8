"""NCF retrieval: the inner-product approximation, and the engine that scores only what it retrieves."""
from dataclasses import replace

import numpy as np
import pytest

from app.engines import RecommendationContext
from app.engines.ncf import NCF, NCFModel, NCFParams, NCFRanking, NCFScorer
from app.engines.ncf_retrieval import (
    RETRIEVAL_ARRAYS,
    Placement,
    RetrievalFit,
    RetrievalSettings,
    fit_retrieval,
    service_keys,
)
from app.engines.score_cache import ScoreCache


def random_ncf(users: int = 300, services: int = 3000, seed: int = 0) -> NCFModel:
    """An NCF of small widths and random weights (large enough that the MLP term is far from constant)."""
    rng = np.random.default_rng(seed)
    g, m, cu, ci, layers = 8, 8, 4, 6, (16, 8)

    def normal(*shape, scale=0.5):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    sizes = [2 * m + cu + ci, *layers]
    return NCFModel(
        hyperparameters=NCFParams(("categories",), 0.5),
        user_ids=np.arange(1, users + 1), service_ids=np.arange(1, services + 1) * 10,
        user_gmf=normal(users + 1, g), user_mlp=normal(users + 1, m), user_content=np.tanh(normal(users, cu, scale=1)),
        service_gmf=normal(services, g), service_mlp=normal(services, m),
        service_content=np.tanh(normal(services, ci, scale=1)),
        mlp_weight=tuple(normal(a, b) for a, b in zip(sizes, sizes[1:])), mlp_bias=tuple(normal(b) for b in sizes[1:]),
        head_weight=normal(g + sizes[-1]), head_bias=normal(1),
        user_encoder_weight=(normal(3, 4), normal(4, cu)), user_encoder_bias=(normal(4), normal(cu)),
        user_vocabulary_field=np.zeros(3, np.int64), user_vocabulary_value=np.arange(1, 4),
        user_vocabulary_column=np.arange(3))


@pytest.fixture(scope="module")
def model() -> NCFModel:
    return random_ncf().with_retrieval()


def context(model: NCFModel, user_id: int | None, k: int = 20, candidates=None, **fields) -> RecommendationContext:
    return RecommendationContext(candidates=model.service_ids if candidates is None else candidates, k=k, now=0.0,
                                 user_id=user_id, **fields)


def overlap(a, b) -> float:
    return len(set(a.tolist()) & set(b.tolist())) / max(len(a), 1)


def test_the_approximation_placed_by_the_anchors_ranks_like_ncf(model):
    scorer = NCFScorer(model)
    gmf, first = scorer.user_vector(np.arange(50))
    exact = scorer.logits(gmf, first)  # (50, s)
    placement = Placement({name: getattr(model, name) for name in RETRIEVAL_ARRAYS})
    keys = service_keys({name: getattr(model, name) for name in RETRIEVAL_ARRAYS})
    approximated = np.stack([keys @ placement.query(exact[i, model.retrieval_anchors]) for i in range(50)])
    correlation = np.mean([np.corrcoef(exact[i], approximated[i])[0, 1] for i in range(50)])
    prior_alone = np.mean([np.corrcoef(exact[i], model.retrieval_service_prior)[0, 1] for i in range(50)])
    assert correlation > 0.95 and correlation > prior_alone + 0.05, (correlation, prior_alone)
    assert model.retrieval_service.shape == (model.service_ids.size, RetrievalFit().rank)
    assert model.retrieval_anchors.size == RetrievalFit().anchors and np.unique(model.retrieval_anchors).size == 1000


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_retrieving_then_scoring_finds_the_exact_top_k(model, index):
    exact = NCF(model, ScoreCache(0))
    fast = NCF(model, ScoreCache(0), RetrievalSettings(min_candidates=1, pool=300, index=index))
    found = [overlap(exact.recommend(context(model, u)).ids, fast.recommend(context(model, u)).ids)
             for u in range(1, 301)]
    assert np.mean(found) >= 0.97, np.mean(found)


def test_retrieved_services_are_eligible_ones_and_scored_exactly(model):
    fast = NCF(model, ScoreCache(0), RetrievalSettings(min_candidates=100, pool=100))
    eligible = model.service_ids[::3]
    answer = fast.recommend(context(model, 7, candidates=eligible))
    assert len(answer) == 20 and np.isin(answer.ids, eligible).all()
    exact_scores = NCF(model, ScoreCache(0)).score(context(model, 7), answer.ids)
    assert np.allclose(answer.scores, exact_scores)


def test_a_visitor_known_by_features_is_retrieved_for_too(model):
    exact = NCF(model, ScoreCache(0))
    fast = NCF(model, ScoreCache(0), RetrievalSettings(min_candidates=1, pool=300))
    visitor = context(model, None, user_features={"categories": (2,)})
    assert overlap(exact.recommend(visitor).ids, fast.recommend(visitor).ids) >= 0.9


def test_a_kept_retrieval_answers_exactly_as_a_fresh_search_whatever_is_eligible(model):
    settings = RetrievalSettings(min_candidates=100, pool=100)
    kept, fresh = NCF(model, ScoreCache(), settings), NCF(model, ScoreCache(0), settings)
    rng = np.random.default_rng(1)
    everything = model.service_ids
    for user in (3, 4):
        # The user's best 150 excluded: the kept list (the best 200) holds too few eligible ones.
        best = NCF(model, ScoreCache(0), replace(settings, pool=150))._retrieved(context(model, user))
        for eligible in (everything, everything[rng.random(everything.size) > 0.05],  # a few excluded
                         everything[rng.random(everything.size) > 0.4], everything[~np.isin(everything, best)],
                         everything[::3]):  # a filtered page: searched afresh
            asked = context(model, user, candidates=eligible)
            assert np.array_equal(kept._retrieved(asked), fresh._retrieved(asked))
    assert kept.cache.hits >= 4 and len(kept.cache) == 2  # one list per user, then taken from it


def test_few_candidates_a_ranking_or_a_model_without_retrieval_arrays_score_every_candidate(model):
    settings = RetrievalSettings(min_candidates=1000, pool=50)
    engine = NCF(model, ScoreCache(0), settings)
    few = model.service_ids[:999]
    assert engine._retrieved(context(model, 3, candidates=few)) is None
    assert engine._retrieved(context(model, 3, k=5)).size == 50
    assert engine._retrieved(context(model, 3, k=20)).size == 80  # a pool of at least 4 k
    assert NCFRanking(model, ScoreCache(0), settings).retrievers == {}
    bare = replace(model, **dict.fromkeys(RETRIEVAL_ARRAYS))
    assert NCF(bare, ScoreCache(0), settings).retrievers == {}
    assert NCF(model, ScoreCache(0)).retrievers == {}  # no settings: exact, as before retrieval


def test_retrieval_arrays_survive_saving_and_objective_sides_keep_their_own(model):
    side = {"service_gmf": model.service_gmf[::-1].copy(), "service_mlp": model.service_mlp[::-1].copy(),
            "head_weight": model.head_weight, "head_bias": model.head_bias}
    with_side = replace(model, objective_sides={"click": side}).with_retrieval()
    loaded = NCFModel.from_arrays(with_side.to_arrays(), with_side.params())
    assert np.array_equal(loaded.retrieval_service, with_side.retrieval_service)
    click = loaded.for_objective("click")
    assert np.array_equal(click.retrieval_service, with_side.objective_sides["click"]["retrieval_service"])
    assert not np.array_equal(click.retrieval_service_prior, loaded.retrieval_service_prior)
    # A side stored without retrieval arrays does not borrow the order model's.
    bare_side = replace(loaded, objective_sides={"click": side}).for_objective("click")
    assert bare_side.retrieval_service is None


def test_a_version_saved_with_the_first_designs_arrays_loads_and_scores_every_candidate(model):
    side = {"service_gmf": model.service_gmf, "service_mlp": model.service_mlp, "head_weight": model.head_weight,
            "head_bias": model.head_bias}
    arrays = {name: array for name, array in replace(model, objective_sides={"click": side}).to_arrays().items()
              if not name.endswith(RETRIEVAL_ARRAYS)}
    arrays |= {"retrieval_user_map": np.zeros((9, 16), np.float32),
               "objective_click_retrieval_user_map": np.zeros((9, 16), np.float32)}
    loaded = NCFModel.from_arrays(arrays, model.params())
    assert NCF(loaded, ScoreCache(0), RetrievalSettings(min_candidates=1)).retrievers == {}
    assert "retrieval_user_map" not in loaded.to_arrays() and loaded.objectives == ("click",)


def test_a_model_without_users_gets_no_retrieval_arrays():
    empty = random_ncf(users=0, services=10)
    assert fit_retrieval(NCFScorer(empty)) == {}
