"""NCF engines: the exported arrays answer as the torch model does, with or without an id row,
with or without a history term."""
from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
import torch
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from app.engines import (
    EngineNotReady,
    EvidenceKind,
    Interactions,
    RecommendationContext,
)
from app.engines.ncf import NCF, NCFModel, NCFParams, NCFRanking
from app.engines.score_cache import ScoreCache
from app.training.autoencoder import encode, fit_autoencoder
from app.training.dataset import interaction_data, interaction_data_from_dump
from app.training.ncf import fit_ncf
from app.training.ncf_export import export_ncf
from app.training.ncf_training import train_ncf
from tests.training.planted import DRAFTS, GROUP_SERVICES, planted_dump, small_config

torch.set_num_threads(1)  # see tests/training/conftest.py
NOW = 1_700_000_000.0


def toy_ncf_model(toy) -> NCFModel:
    """NCF fitted on the shared toy marketplace (for the contract test): every interaction is a
    positive; users declare their favourite category."""
    categories = toy.categories
    dump = {
        "services": [{"id": int(s), "status": "published",
                      "categories": categories.category_ids[categories.indptr[i]:categories.indptr[i + 1]].tolist()}
                     for i, s in enumerate(categories.service_ids)],
        "users": [{"id": user, "categories": [category]} for user, category in toy.favourite_category.items()],
    }
    by_time = np.argsort(toy.timestamps, kind="stable")
    pairs = np.stack([toy.user_ids[by_time], toy.service_ids[by_time]], axis=1)
    _, first = np.unique(pairs, axis=0, return_index=True)  # each pair once, at its first time
    first = by_time[first]
    data = interaction_data(dump, toy.user_ids[first], toy.service_ids[first], toy.timestamps[first])
    return train_ncf(data, small_config(epochs=5)).model


@cache
def planted(history_length: int = 0):
    """The planted marketplace, its fitted torch model and autoencoder, and the exported model."""
    data = interaction_data_from_dump(planted_dump())
    config = small_config()
    user_autoencoder, _ = fit_autoencoder(data.user_features, config.user_autoencoder)
    service_autoencoder, _ = fit_autoencoder(data.service_features, config.service_autoencoder)
    user_content = encode(user_autoencoder, data.user_features)
    model, _ = fit_ncf(data.user_rows, data.service_rows, data.order, user_content,
                       encode(service_autoencoder, data.service_features), data.recommendable,
                       replace(config.ncf, history_length=history_length))
    exported = export_ncf(model, data.users.ids, data.services.ids, user_autoencoder, data.user_encoder)
    return data, model, user_autoencoder, exported


def _context(**fields) -> RecommendationContext:
    """Every recommendable service (the caller leaves drafts out), and 999, which the model has no row for."""
    published = [s for ids in GROUP_SERVICES.values() for s in ids if s not in DRAFTS]
    candidates = np.array(published + [999], dtype=np.int64)
    return RecommendationContext(candidates=candidates, k=5, now=NOW, **fields)


def _torch_scores(model, users: torch.Tensor, user_content: torch.Tensor, rows: np.ndarray,
                  history: list[int] | None = None) -> np.ndarray:
    """The torch model's scores; `history`: the item rows of the window (padded to its length)."""
    items = torch.as_tensor(rows)
    window = None
    if history is not None:
        padded = [model.n_items] * (model.config.history_length - len(history)) + list(history)
        window = torch.tensor([padded]).expand(items.shape[0], -1)
    with torch.inference_mode():
        logits = model(users.expand(items.shape), items, user_content.expand(items.shape[0], -1),
                       model.item_content[items], window)
    return torch.sigmoid(logits.double()).numpy()


def _taken(service_ids: list[int]) -> np.ndarray:
    """Services a user took, oldest first."""
    return np.array(service_ids, dtype=np.int64)


def test_a_known_user_gets_the_torch_models_scores():
    data, model, _, exported = planted()
    engine = NCF(exported)
    user_row = 4
    rows = np.arange(data.n_services)
    expected = _torch_scores(model, torch.tensor([user_row]), model.user_content[user_row], rows)
    scores = engine.score(_context(user_id=int(data.users.ids[user_row])), data.services.ids[rows])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_a_visitor_known_by_features_only_gets_the_content_side_score():
    data, model, user_autoencoder, exported = planted()
    features = {"categories": (1,), "scientific_domains": (21, 999)}  # 999 is unknown: ignored
    content = torch.as_tensor(encode(user_autoencoder, data.user_encoder.encode([dict(features)])))[0]
    rows = np.arange(data.n_services)
    expected = _torch_scores(model, torch.tensor([model.n_users]), content, rows)  # the "no id" row
    scores = NCF(exported).score(_context(user_id=555, user_features=features), data.services.ids[rows])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("group", [1, 2])
def test_features_alone_point_to_the_planted_kind(group):
    _, _, _, exported = planted()
    answer = NCF(exported).recommend(_context(user_features={"categories": (group,)}))
    assert len(answer) == 5
    assert set(answer.ids.tolist()) <= set(GROUP_SERVICES[group])
    assert all(e.kind == EvidenceKind.PERSONAL for e in answer.evidence)  # no history to point to


def test_nobody_known_gets_nothing_so_the_caller_falls_back():
    _, _, _, exported = planted()
    for context in (_context(), _context(user_id=555), _context(user_features={"categories": (77,)})):
        assert len(NCF(exported).recommend(context)) == 0
        assert len(NCFRanking(exported).recommend(context)) == 0


def test_ranking_ranks_every_candidate_and_services_without_a_row_last():
    *_, exported = planted()
    context = _context(user_id=1)
    answer = NCFRanking(exported).recommend(context)
    assert sorted(answer.ids.tolist()) == sorted(context.candidates.tolist())
    assert answer.ids[-1] == 999 and answer.scores[-1] == 0.0
    assert (answer.scores[:-1] > 0).all()


def test_evidence_names_a_similar_history_service_or_says_personal():
    *_, exported = planted()
    user = 1
    history_ids = planted_dump()["users"][user - 1]["accessed_services"]
    history = Interactions.from_records([(s, "order", NOW - 1000 + i) for i, s in enumerate(history_ids)])
    exported_low = NCFModel.from_arrays(exported.to_arrays(), {**exported.params(), "similarity_threshold": -1.0})
    answer = NCF(exported_low).recommend(_context(user_id=user, history=history))
    assert len(answer) == 5
    for service, evidence in zip(answer.ids, answer.evidence):
        assert evidence.kind == EvidenceKind.SIMILAR_TO_VIEWED
        assert evidence.service_id in history_ids and evidence.service_id != service
    strict = NCFModel.from_arrays(exported.to_arrays(), {**exported.params(), "similarity_threshold": 1.01})
    assert {e.kind for e in NCF(strict).recommend(_context(user_id=user, history=history)).evidence} == {
        EvidenceKind.PERSONAL}


def test_saved_arrays_and_params_answer_alike():
    _, _, _, exported = planted()
    blob = save_safetensors({name: np.ascontiguousarray(a) for name, a in exported.to_arrays().items()})
    loaded = NCFModel.from_arrays(load_safetensors(blob), json.loads(json.dumps(exported.params())))
    for context in (_context(user_id=3), _context(user_features={"categories": (2,)})):
        first, second = NCF(exported).recommend(context), NCF(loaded).recommend(context)
        np.testing.assert_array_equal(first.ids, second.ids)
        np.testing.assert_array_equal(first.scores, second.scores)
    assert all(a.dtype in (np.float32, np.int64) for a in exported.to_arrays().values())


def test_a_known_user_is_scored_with_the_latest_distinct_known_services_taken():
    data, model, _, exported = planted(history_length=3)
    user_row, rows = 4, np.arange(data.n_services)
    row_of = {int(service): row for row, service in enumerate(data.services.ids)}
    # Oldest first: 999 has no row (skipped), 103 comes again later (counts once, as the latest).
    taken = _taken([101, 103, 102, 999, 104, 103, 999])
    expected = _torch_scores(model, torch.tensor([user_row]), model.user_content[user_row], rows,
                             [row_of[102], row_of[104], row_of[103]])
    scores = NCF(exported).score(_context(user_id=int(data.users.ids[user_row]), taken=taken),
                                 data.services.ids[rows])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    without = _torch_scores(model, torch.tensor([user_row]), model.user_content[user_row], rows)
    assert np.abs(expected - without).max() > 1e-4  # the history mattered
    short = NCF(exported).score(_context(user_id=int(data.users.ids[user_row]), taken=_taken([105])),
                                data.services.ids[rows])
    np.testing.assert_allclose(short, _torch_scores(model, torch.tensor([user_row]), model.user_content[user_row],
                                                    rows, [row_of[105]]), rtol=1e-5, atol=1e-6)
    empty = NCF(exported).score(_context(user_id=int(data.users.ids[user_row])), data.services.ids[rows])
    np.testing.assert_allclose(empty, without, rtol=1e-5, atol=1e-6)


def test_a_visitor_known_by_taken_services_alone_gets_the_no_id_rows_score_with_them():
    data, model, user_autoencoder, exported = planted(history_length=3)
    rows = np.arange(data.n_services)
    row_of = {int(service): row for row, service in enumerate(data.services.ids)}
    nothing_declared = torch.as_tensor(encode(user_autoencoder, data.user_encoder.encode([{}])))[0]
    expected = _torch_scores(model, torch.tensor([model.n_users]), nothing_declared, rows,
                             [row_of[201], row_of[202]])
    for context in (_context(taken=_taken([201, 202])), _context(user_id=555, taken=_taken([201, 202]))):
        assert NCF(exported).knows(context)
        np.testing.assert_allclose(NCF(exported).score(context, data.services.ids[rows]), expected,
                                   rtol=1e-5, atol=1e-6)
    assert not NCF(exported).knows(_context(taken=_taken([999])))  # no service with a row: nothing to go on


def test_a_model_saved_without_a_history_term_loads_and_ignores_taken_services():
    data, _, _, exported = planted(history_length=0)
    arrays = {name: np.ascontiguousarray(a) for name, a in exported.to_arrays().items()}
    assert "service_history_gmf" not in arrays
    params = {name: value for name, value in exported.params().items() if name != "history_length"}
    loaded = NCFModel.from_arrays(load_safetensors(save_safetensors(arrays)), json.loads(json.dumps(params)))
    assert loaded.service_history_gmf is None and loaded.hyperparameters.history_length == 0
    user = int(data.users.ids[4])
    plain = NCF(exported).score(_context(user_id=user), data.services.ids)
    np.testing.assert_array_equal(NCF(loaded).score(_context(user_id=user, taken=_taken([101, 102])),
                                                    data.services.ids), plain)
    assert not NCF(loaded).knows(_context(taken=_taken([101, 102])))  # a visitor with history alone


def test_saved_arrays_and_params_with_a_history_term_answer_alike():
    data, _, _, exported = planted(history_length=3)
    blob = save_safetensors({name: np.ascontiguousarray(a) for name, a in exported.to_arrays().items()})
    loaded = NCFModel.from_arrays(load_safetensors(blob), json.loads(json.dumps(exported.params())))
    assert loaded.service_history_gmf.shape == (data.n_services, exported.service_gmf.shape[1])
    for context in (_context(user_id=3, taken=_taken([101, 105])), _context(taken=_taken([202]))):
        first, second = NCF(exported).recommend(context), NCF(loaded).recommend(context)
        np.testing.assert_array_equal(first.ids, second.ids)
        np.testing.assert_array_equal(first.scores, second.scores)


def test_without_a_model_the_engines_are_not_ready():
    for engine in (NCF(), NCFRanking()):
        assert not engine.ready
        with pytest.raises(EngineNotReady):
            engine.recommend(_context(user_id=1))


def _random_model(services: int, users: int = 50, seed: int = 0, history_length: int = 0) -> NCFModel:
    """Serving-sized layers (64-d ids, 128-d service content, MLP 64-32-16) with random weights."""
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    sizes = (64 + 64 + 16 + 128, 64, 32, 16)
    return NCFModel(
        hyperparameters=NCFParams(history_length=history_length), user_ids=np.arange(users, dtype=np.int64),
        service_ids=np.arange(services, dtype=np.int64) * 3, user_gmf=normal(users + 1, 64),
        user_mlp=normal(users + 1, 64), user_content=normal(users, 16), service_gmf=normal(services, 64),
        service_mlp=normal(services, 64), service_content=normal(services, 128),
        mlp_weight=tuple(normal(a, b) for a, b in zip(sizes, sizes[1:])), mlp_bias=tuple(normal(b) for b in sizes[1:]),
        head_weight=normal(64 + 16), head_bias=normal(1), user_encoder_weight=(normal(4, 8), normal(8, 16)),
        user_encoder_bias=(normal(8), normal(16)), user_vocabulary_field=np.zeros(4, np.int64),
        user_vocabulary_value=np.arange(4, dtype=np.int64), user_vocabulary_column=np.arange(4, dtype=np.int64),
        service_history_gmf=normal(services, 64) if history_length else None,
    )


@pytest.mark.parametrize("history_length", [0, 10])
def test_a_services_score_does_not_depend_on_the_others_scored_with_it(history_length):
    """Up to float32 rounding: BLAS kernels may round a row differently with its place in the block."""
    model = _random_model(services=5000, history_length=history_length)
    engine, rng = NCF(model, ScoreCache(0)), np.random.default_rng(1)  # nothing kept: every call scores
    context = RecommendationContext(candidates=model.service_ids, k=3, now=NOW, user_id=7,
                                    taken=3 * np.arange(20))
    everything = engine.score(context, model.service_ids)
    for _ in range(50):
        ids = rng.choice(model.service_ids, int(rng.integers(1, 3000)), replace=False)
        np.testing.assert_allclose(engine.score(context, ids), everything[ids // 3], rtol=1e-6, atol=0)


def test_a_trained_users_scores_over_the_catalogue_are_kept_for_their_next_requests():
    model = _random_model(services=2000, history_length=10)
    engine, uncached = NCF(model, ScoreCache()), NCF(model, ScoreCache(0))
    context = RecommendationContext(candidates=model.service_ids, k=3, now=NOW, user_id=7, taken=[3, 6, 9])
    few = model.service_ids[[5, 50, 500]]
    engine.score(context, few)  # under half the catalogue: scored alone, nothing kept
    assert len(engine.cache) == 0
    everything = engine.score(context, model.service_ids)
    assert len(engine.cache) == 1
    np.testing.assert_array_equal(engine.score(context, few), everything[[5, 50, 500]])  # looked up
    assert engine.cache.hits == 1
    np.testing.assert_allclose(everything, uncached.score(context, model.service_ids), rtol=1e-6, atol=0)
    # Another taking, another user, or a visitor: not the kept scores.
    for other in (replace(context, taken=np.array([3, 6, 12])), replace(context, user_id=8),
                  replace(context, user_id=None, user_features={"categories": (1,)})):
        np.testing.assert_allclose(engine.score(other, few), uncached.score(other, few), rtol=1e-6, atol=0)
    assert engine.cache.hits == 1
    assert len(engine.cache) == 1  # a visitor without a trained row is never kept


def test_the_kept_scores_are_float32_logits_and_give_the_same_scores():
    model = _random_model(services=2000, history_length=10)
    context = RecommendationContext(candidates=model.service_ids, k=3, now=NOW, user_id=7, taken=[3, 6, 9])
    engine, uncached = NCF(model, ScoreCache(2000 * 4)), NCF(model, ScoreCache(0))  # room for 2,000 float32
    everything = engine.score(context, model.service_ids)
    assert len(engine.cache) == 1
    np.testing.assert_array_equal(engine.score(context, model.service_ids), everything)
    np.testing.assert_array_equal(everything, uncached.score(context, model.service_ids))
