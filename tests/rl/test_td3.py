"""TD3: it learns a planted bandit, its targets move by Polyak steps only, its actor waits `policy_delay`;
a residual actor learns on top of a prior, judged by what the prior and its weights select."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from app.engines import Interactions, RecommendationContext
from app.engines.rl import RL, RLModel
from app.rl.export import export_rl_model, load_agent, popularity_prior, save_agent, state_encoder
from app.rl.selector import select_ids
from app.rl.td3 import Catalogue, TD3Agent, TD3Config, fit_td3
from tests.rl.planted import SERVICES, K, planted_bandit

torch.set_num_threads(1)


def _tensors(batch, rows=slice(0, 64)):
    return [torch.as_tensor(a[rows], dtype=torch.float32)
            for a in (batch.states, batch.actions, batch.rewards, batch.next_states, batch.dones)]


def test_learns_a_planted_bandit_better_than_random():
    """Plain TD3 (no history prior, no anchor): the best services here have nothing to do with history."""
    batch, embeddings, panel_reward = planted_bandit()
    config = TD3Config(k=K, hidden=32, steps=800, batch_size=64, seed=1, history_skip=False, anchor_alpha=None)
    agent, report = fit_td3(batch, config)
    ids = np.arange(SERVICES)
    weights = agent.act(batch.states[:200])  # (200, K, d)
    chosen = np.stack([select_ids(w, ids, embeddings)[0] for w in weights])  # (200, K)
    learned = panel_reward(chosen).mean()
    random = float(batch.rewards.mean())
    single = panel_reward(ids[:, None])  # (s,) each service's own reward
    best = float(np.sort(single)[-K:].mean())
    assert learned > random + 0.5 * (best - random), (learned, random, best)
    assert len(report.critic_loss) == len(report.mean_q) == 8 and report.critic_loss[-1] < report.critic_loss[0]


def _residual(agent, states) -> float:
    """Mean square of the actor's move away from its history prior."""
    with torch.no_grad():
        return float(agent.actor.layers(torch.as_tensor(states)).pow(2).mean())


def test_an_anchored_actor_stays_nearer_its_history_prior():
    batch, _, _ = planted_bandit()
    common = {"k": K, "hidden": 32, "steps": 400, "batch_size": 64, "seed": 1}
    anchored, _ = fit_td3(batch, TD3Config(**common, anchor_alpha=0.1))
    free, _ = fit_td3(batch, TD3Config(**common, anchor_alpha=None))
    assert _residual(anchored, batch.states) < 0.5 * _residual(free, batch.states)


def test_without_the_prior_the_anchor_is_the_logged_action():
    """TD3+BC: a strongly anchored actor proposes actions nearer the logged ones than a free one."""
    batch, _, _ = planted_bandit()
    common = {"k": K, "hidden": 32, "steps": 400, "batch_size": 64, "seed": 1, "history_skip": False}
    distances = []
    for alpha in (0.01, None):
        agent, _ = fit_td3(batch, TD3Config(**common, anchor_alpha=alpha))
        distances.append(float(((agent.act(batch.states) - batch.actions) ** 2).mean()))
    assert distances[0] < distances[1]


def test_target_networks_move_only_by_polyak_steps():
    batch, _, _ = planted_bandit(rows=64)
    config = TD3Config(k=K, hidden=16, policy_delay=1, tau=0.1)
    agent = TD3Agent(batch.states.shape[1], batch.actions.shape[2], config)
    before = [p.clone() for p in agent.critic1_target.parameters()]
    agent.update(*_tensors(batch))
    for old, new, online in zip(before, agent.critic1_target.parameters(), agent.critic1.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * online)


def test_actor_and_targets_update_every_policy_delay_steps():
    batch, _, _ = planted_bandit(rows=64)
    agent = TD3Agent(batch.states.shape[1], batch.actions.shape[2], TD3Config(k=K, hidden=16, policy_delay=3))
    actor_changes = []
    for _ in range(6):
        before = [p.clone() for p in agent.actor.parameters()]
        target_before = [p.clone() for p in agent.actor_target.parameters()]
        report = agent.update(*_tensors(batch))
        moved = any(not torch.equal(a, b) for a, b in zip(before, agent.actor.parameters()))
        target_moved = any(not torch.equal(a, b) for a, b in zip(target_before, agent.actor_target.parameters()))
        assert moved == target_moved == ("actor_loss" in report)
        actor_changes.append(moved)
    assert actor_changes == [False, False, True, False, False, True]


def test_done_masks_the_bootstrap():
    batch, _, _ = planted_bandit(rows=64)
    agent = TD3Agent(batch.states.shape[1], batch.actions.shape[2], TD3Config(k=K, hidden=16, critic_lr=0.0))
    states, actions, rewards, next_states, _ = _tensors(batch)
    q = agent.critic1(states, actions).detach()
    ended = agent.update(states, actions, rewards, next_states, torch.ones_like(rewards))["critic_loss"]
    expected = float(((q - rewards) ** 2).mean() + ((agent.critic2(states, actions).detach() - rewards) ** 2).mean())
    assert abs(ended - expected) < 1e-5  # with done = 1 the target is the reward alone


def test_saved_agent_and_exported_actor_answer_as_the_torch_actor(tmp_path):
    batch, embeddings, _ = planted_bandit(rows=64)
    agent = TD3Agent(2 * embeddings.shape[1], embeddings.shape[1], TD3Config(k=K, hidden=16, seed=3))
    save_agent(agent, tmp_path)
    loaded = load_agent(tmp_path)
    encoder = state_encoder(np.arange(SERVICES), embeddings, {"categories": {s: [s % 3] for s in range(SERVICES)}})
    model = RLModel.from_arrays(export_rl_model(loaded, encoder).to_arrays(), export_rl_model(loaded, encoder).params())
    states = np.random.default_rng(0).normal(size=(5, 2 * embeddings.shape[1])).astype(np.float32)
    expected = agent.act(states)
    for state, weights in zip(states, expected):
        np.testing.assert_allclose(model.slot_weights(state, K), weights, atol=1e-5)


def test_an_agent_saved_before_the_history_prior_loads_without_it(tmp_path):
    import json

    batch, embeddings, _ = planted_bandit(rows=64)
    save_agent(TD3Agent(2 * embeddings.shape[1], embeddings.shape[1], TD3Config(k=K, hidden=16)), tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    for name in ("history_skip", "anchor_alpha"):
        del saved["config"][name]
    saved["config"]["exploration_noise"] = 0.0  # a field since dropped
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = load_agent(tmp_path)
    assert loaded.config.history_skip is False and loaded.config.anchor_alpha is None
    assert loaded.actor.history_skip is False


def _worst_first_catalogue(embeddings, panel_reward) -> Catalogue:
    """The planted services with a prior that favours the worst of them (as popularity can mislead)."""
    single = panel_reward(np.arange(SERVICES)[:, None])  # (s,)
    return Catalogue(np.arange(SERVICES, dtype=np.int64), embeddings, (-single / single.max()).astype(np.float32))


def test_a_residual_actor_learns_corrections_on_top_of_the_prior():
    """Scored as prior + weights · embedding, the prior alone picks the worst services; TD3 trained under
    that same scoring learns weights that overrule it."""
    batch, embeddings, panel_reward = planted_bandit()
    catalogue = _worst_first_catalogue(embeddings, panel_reward)
    config = TD3Config(k=K, hidden=32, steps=800, batch_size=64, seed=1, history_skip=False, anchor_alpha=None,
                       popularity_prior=True)
    agent, _ = fit_td3(batch, config, catalogue=catalogue)
    ids = catalogue.service_ids
    weights = agent.act(batch.states[:200])  # (200, K, d)
    chosen = np.stack([select_ids(w, ids, embeddings, prior=catalogue.prior)[0] for w in weights])
    by_prior = np.stack([select_ids(np.zeros_like(w), ids, embeddings, prior=catalogue.prior)[0] for w in weights])
    learned, prior_only, random = panel_reward(chosen).mean(), panel_reward(by_prior).mean(), batch.rewards.mean()
    assert learned > random > prior_only, (learned, random, prior_only)


def test_the_critics_judge_what_the_prior_and_weights_select():
    """At a low temperature the soft selection is the selector's pick: its embedding and its prior."""
    batch, embeddings, panel_reward = planted_bandit(rows=64)
    catalogue = _worst_first_catalogue(embeddings, panel_reward)
    agent = TD3Agent(2 * embeddings.shape[1], embeddings.shape[1],
                     TD3Config(k=K, hidden=16, popularity_prior=True, selection_temperature=1e-3), catalogue)
    weights = agent.act(batch.states[:5])  # (5, K, d)
    selected = agent.selected(torch.as_tensor(weights)).numpy()  # (5, K, d + 1)
    for w, action in zip(weights, selected):
        scores = catalogue.prior + w @ embeddings.T  # (K, s): each slot's best, repetition allowed here
        best = scores.argmax(axis=1)
        np.testing.assert_allclose(action, np.c_[embeddings[best], catalogue.prior[best]], atol=1e-3)
    logged = agent.logged_actions(batch)
    assert logged.shape == (64, K, embeddings.shape[1] + 1)
    np.testing.assert_allclose(logged[..., -1], catalogue.prior[batch.action_ids])


def test_a_residual_actor_needs_its_catalogue():
    with pytest.raises(ValueError, match="catalogue"):
        TD3Agent(8, 4, TD3Config(k=K, popularity_prior=True))


def test_a_saved_residual_agent_exports_its_prior_and_serves_prior_plus_weights(tmp_path):
    batch, embeddings, panel_reward = planted_bandit(rows=64)
    catalogue = _worst_first_catalogue(embeddings, panel_reward)
    agent = TD3Agent(2 * embeddings.shape[1], embeddings.shape[1],
                     TD3Config(k=K, hidden=16, seed=3, popularity_prior=True), catalogue)
    save_agent(agent, tmp_path)
    loaded = load_agent(tmp_path)
    np.testing.assert_array_equal(loaded.catalogue.prior, catalogue.prior)
    encoder = state_encoder(np.arange(SERVICES), embeddings, {"categories": {s: [s % 3] for s in range(SERVICES)}})
    exported = export_rl_model(loaded, encoder)
    model = RLModel.from_arrays(load_safetensors(save_safetensors(exported.to_arrays())), exported.params())
    np.testing.assert_array_equal(model.service_prior, catalogue.prior)
    state = encoder.state({"categories": (1,)}, [3, 4])
    weights = agent.act(state[None])[0]  # (K, d)
    expected, _ = select_ids(weights, catalogue.service_ids, embeddings, prior=catalogue.prior)
    context = RecommendationContext(candidates=np.arange(SERVICES), k=K, now=0.0, user_features={"categories": (1,)},
                                    history=Interactions(np.array([3, 4]), np.zeros(2, np.int8), np.arange(2.0)))
    np.testing.assert_array_equal(RL(model).recommend(context).ids, expected)


def test_the_popularity_prior_is_the_smoothed_log_share_of_takers():
    prior = popularity_prior(np.array([1, 2, 3]), {1: 9, 2: 1}, users=9)
    np.testing.assert_allclose(prior, np.log([1.0, 0.2, 0.1]), rtol=1e-6)
    assert np.isfinite(prior).all()
