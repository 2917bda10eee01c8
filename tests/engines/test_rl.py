"""RL engine: K distinct eligible services from an exported actor, deterministic unless exploring."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from app.engines import RL, EvidenceKind, RecommendationContext
from app.engines.rl import RLModel, select_services
from app.rl.export import export_rl_model, state_encoder
from app.rl.td3 import TD3Agent, TD3Config
from tests.engines.toy_marketplace import UNSEEN_SERVICES, toy_marketplace

torch.set_num_threads(1)
TOY = toy_marketplace()


def toy_rl_model(toy) -> RLModel:
    """An untrained (seeded) actor over the toy catalogue: services embedded by category plus noise."""
    categories = toy.categories
    rng = np.random.default_rng(5)
    category_of = {int(s): categories.category_ids[categories.indptr[i]:categories.indptr[i + 1]].tolist()
                   for i, s in enumerate(categories.service_ids)}
    embeddings = np.tanh(np.eye(4)[[c[0] for c in category_of.values()]] + 0.3 * rng.normal(size=(len(category_of), 4)))
    encoder = state_encoder(categories.service_ids, embeddings, {"categories": category_of})
    agent = TD3Agent(encoder.state_size, 4, TD3Config(k=3, hidden=16, seed=2))
    return export_rl_model(agent, encoder)


def _context(k: int, **fields) -> RecommendationContext:
    everything = np.concatenate([TOY.services, UNSEEN_SERVICES])
    return RecommendationContext(candidates=everything, k=k, now=TOY.now, **fields)


def test_k_distinct_eligible_services_for_panels_of_three_and_two():
    engine = RL(toy_rl_model(TOY))
    for k in (3, 2):
        answer = engine.recommend(_context(k, user_id=1, history=TOY.history_of(1)))
        assert answer.ids.size == k and np.unique(answer.ids).size == k
        assert np.isin(answer.ids, TOY.services).all()  # services without an embedding are never chosen
        assert all(e.kind == EvidenceKind.PERSONAL for e in answer.evidence)


def test_only_candidates_are_chosen():
    engine = RL(toy_rl_model(TOY))
    first = engine.recommend(_context(3, history=TOY.history_of(2))).ids
    without = np.setdiff1d(TOY.services, first)
    context = RecommendationContext(candidates=without, k=3, now=TOY.now, history=TOY.history_of(2))
    again = engine.recommend(context).ids
    assert again.size == 3 and not np.isin(again, first).any()


def test_state_follows_history_and_features():
    model = toy_rl_model(TOY)
    nobody = model.encoder.state({}, [])
    assert nobody.shape == (8,) and not nobody.any()
    assert model.encoder.state({"categories": (1,)}, [])[:4].any()
    assert model.encoder.state({}, TOY.history_of(1).service_ids)[4:].any()


def test_deterministic_without_exploration_and_seeded_with_it():
    assert RL(toy_rl_model(TOY)).deterministic
    assert RL(toy_rl_model(TOY)).recommend(_context(3, history=TOY.history_of(3))).probabilities is None
    exploring = RL(toy_rl_model(TOY), exploration_epsilon=0.5)
    assert not exploring.deterministic
    seeded = _context(3, seed=11, history=TOY.history_of(3))
    np.testing.assert_array_equal(exploring.recommend(seeded).ids, exploring.recommend(seeded).ids)
    answers = {tuple(exploring.recommend(replace(seeded, seed=s)).ids) for s in range(10)}
    assert len(answers) > 1


def test_logged_probabilities_are_how_often_each_service_is_shown():
    """Over many draws, a service appears about as often as the probability the engine reports for it."""
    epsilon, draws = 0.3, 4000
    engine = RL(toy_rl_model(TOY), exploration_epsilon=epsilon)
    context = _context(3, user_id=1, history=TOY.history_of(1))
    greedy = RL(toy_rl_model(TOY)).recommend(context).ids
    shown_count, reported = {}, {}
    for seed in range(draws):
        answer = engine.recommend(replace(context, seed=seed))
        assert np.unique(answer.ids).size == 3 and np.isin(answer.ids, TOY.services).all()
        for service, probability in zip(answer.ids.tolist(), answer.probabilities.tolist()):
            shown_count[service] = shown_count.get(service, 0) + 1
            assert reported.setdefault(service, probability) == probability  # a function of the context only
    n = TOY.services.size  # every toy service has an embedding; the unseen candidates are never drawn
    for service, probability in reported.items():
        expected = (1 - epsilon) * (service in greedy) + epsilon * 3 / n
        assert probability == pytest.approx(expected)
        standard_error = np.sqrt(probability * (1 - probability) / draws)
        assert abs(shown_count[service] / draws - probability) < 4 * standard_error + 1e-9


def test_exploration_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="exploration_epsilon"):
        RL(toy_rl_model(TOY), exploration_epsilon=1.5)


def test_a_version_saved_with_parameters_since_dropped_still_loads():
    model = toy_rl_model(TOY)
    old_params = {**model.params(), "exploration_noise": 0.0}
    loaded = RLModel.from_arrays(model.to_arrays(), old_params)
    context = _context(3, user_id=1, history=TOY.history_of(1))
    np.testing.assert_array_equal(RL(loaded).recommend(context).ids, RL(model).recommend(context).ids)


def test_arrays_round_trip_through_safetensors():
    model = toy_rl_model(TOY)
    loaded = RLModel.from_arrays(load_safetensors(save_safetensors(model.to_arrays())), model.params())
    context = _context(3, user_id=1, history=TOY.history_of(1), user_features={"categories": (2,)})
    np.testing.assert_array_equal(RL(loaded).recommend(context).ids, RL(model).recommend(context).ids)


def test_a_version_saved_before_the_prior_has_none_and_scores_by_the_dot_product():
    """Versions trained before the popularity prior store no `service_prior`: through safetensors they load
    without one and pick, slot by slot, the candidate with the highest dot(weights, embedding)."""
    model = toy_rl_model(TOY)
    arrays = load_safetensors(save_safetensors(model.to_arrays()))
    assert "service_prior" not in arrays
    loaded = RLModel.from_arrays(arrays, model.params())
    assert loaded.service_prior is None
    context = _context(3, user_id=1, history=TOY.history_of(1))
    state = loaded.encoder.state({}, context.interactions.service_ids)
    embeddings, known = loaded.encoder.embeddings_of(context.candidates)
    positions, _ = select_services(loaded.slot_weights(state, 3), embeddings, known)
    np.testing.assert_array_equal(RL(loaded).recommend(context).ids, context.candidates[positions])


def _with_prior(model: RLModel, prior: np.ndarray, indifferent: bool = False) -> RLModel:
    """The model with a popularity prior; `indifferent`: an actor whose weights are all 0 (tanh(0))."""
    weights, biases = model.actor_weight, model.actor_bias
    if indifferent:
        weights = (*weights[:-1], np.zeros_like(weights[-1]))
        biases = (*biases[:-1], np.zeros_like(biases[-1]))
    return RLModel(replace(model.hyperparameters, history_skip=False), model.encoder, weights, biases,
                   prior.astype(np.float32))


def test_an_indifferent_actor_with_a_prior_serves_the_most_popular_candidates_in_order():
    model = toy_rl_model(TOY)
    prior = np.random.default_rng(3).normal(size=model.service_ids.size)
    loaded = RLModel.from_arrays(load_safetensors(save_safetensors(_with_prior(model, prior, True).to_arrays())),
                                 model.params())
    np.testing.assert_array_equal(loaded.service_prior, prior.astype(np.float32))
    answer = RL(loaded).recommend(_context(3))
    np.testing.assert_array_equal(answer.ids, model.service_ids[np.argsort(-prior)[:3]])
    assert (np.diff(answer.scores) < 0).all()


def test_the_actor_corrects_the_prior_slot_by_slot():
    """Affinity is prior + dot(weights, embedding): the slate is the greedy pick on that sum, not on either part."""
    model = toy_rl_model(TOY)
    prior = 0.5 * np.random.default_rng(4).normal(size=model.service_ids.size)
    residual = _with_prior(model, prior)
    context = _context(3, user_id=1, history=TOY.history_of(1), user_features={"categories": (2,)})
    state = model.encoder.state({"categories": (2,)}, context.interactions.service_ids)
    weights = residual.slot_weights(state, 3).astype(np.float64)  # (3, d)
    embeddings, known = model.encoder.embeddings_of(context.candidates)
    rows, _ = model.encoder.service_index.positions(context.candidates)
    sums = weights @ embeddings.T + np.where(known, prior[rows], -np.inf)  # (3, c)
    expected = []
    for slot in range(3):
        open_sums = np.where(np.isin(np.arange(sums.shape[1]), expected) | ~known, -np.inf, sums[slot])
        expected.append(int(np.argmax(open_sums)))
    np.testing.assert_array_equal(RL(residual).recommend(context).ids, context.candidates[expected])
