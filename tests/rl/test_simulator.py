"""The simulator: seeded runs repeat, personal panels earn more than random ones, training tops up."""
from __future__ import annotations

import numpy as np

from app.rl.policies import epsilon_greedy_policy, uniform_policy
from app.rl.simulator import simulate_panels, synthetic_marketplace, training_batch


def _appeal_policy(marketplace):
    def policy(request):
        appeal = marketplace.appeal(request.user_id, np.searchsorted(marketplace.service_ids, request.candidates))
        return request.candidates[np.argsort(-appeal)[:request.k]], np.ones(request.k)
    return policy


def test_the_same_seed_gives_the_same_run():
    first = simulate_panels(uniform_policy, synthetic_marketplace(users=30, seed=1), 200, k=3, seed=4)
    second = simulate_panels(uniform_policy, synthetic_marketplace(users=30, seed=1), 200, k=3, seed=4)
    for name, value in first.batch.to_arrays().items():
        np.testing.assert_array_equal(value, getattr(second.batch, name), err_msg=name)
    assert first.mean_reward == second.mean_reward


def test_panels_that_suit_the_user_earn_more_than_random_ones():
    random = simulate_panels(uniform_policy, synthetic_marketplace(users=50), 600, k=3, seed=2)
    marketplace = synthetic_marketplace(users=50)
    suited = simulate_panels(_appeal_policy(marketplace), marketplace, 600, k=3, seed=2)
    assert suited.mean_reward > 2 * random.mean_reward > 0


def test_panels_have_k_distinct_services_and_logged_propensities():
    marketplace = synthetic_marketplace(users=20)
    popularity = {int(s): -i for i, s in enumerate(marketplace.service_ids)}
    run = simulate_panels(epsilon_greedy_policy(popularity, 0.3), marketplace, 100, k=2, seed=0)
    assert run.batch.action_ids.shape == (100, 2)
    assert all(len(set(row)) == 2 for row in run.batch.action_ids.tolist())
    shown_anyway = 0.3 * 2 / 40  # the uniform part's share, a little more once orders leave the candidates
    p = run.batch.propensities
    assert ((p >= 0.7 + shown_anyway) | ((p >= shown_anyway) & (p < 0.1))).all()


def test_few_real_transitions_are_topped_up_with_simulated_ones():
    real = simulate_panels(uniform_policy, synthetic_marketplace(users=10), 30, k=3, seed=1).batch
    batch = training_batch(real, 100, synthetic_marketplace(users=10), uniform_policy, k=3, seed=2)
    assert len(batch) == 100
    np.testing.assert_array_equal(batch.states[:30], real.states)
    assert training_batch(real, 20, synthetic_marketplace(users=10), uniform_policy) is real
