"""A snapshot as the simulator's marketplace: policies are told apart on a one-category catalogue
whose services look alike, by what users took (held out) and by popularity."""
from __future__ import annotations

import numpy as np

from app.rl.evaluation import simulated_rewards
from app.rl.ope import mean_estimate, paired_difference
from app.rl.policies import greedy_panel, uniform_policy
from app.rl.snapshot_marketplace import snapshot_marketplace, split_taken, user_split, visible_popularity
from app.rl.td3 import TD3Config
from app.rl.training import RLTrainingConfig
from tests.rl.one_category import alike_encoder, one_category_dump

CONFIG = RLTrainingConfig(td3=TD3Config(k=3), evaluation_episodes=600)


def _popularity_policy(dump, encoder):
    popularity = visible_popularity(snapshot_marketplace(dump, encoder))
    return lambda request: (greedy_panel(popularity, request), np.ones(request.k))


def _knows_what_users_take(dump, encoder):
    """A policy that reads the simulated users' minds: their held-out services first, then popular ones."""
    marketplace = snapshot_marketplace(dump, encoder)
    popularity = visible_popularity(marketplace)

    def policy(request):
        wanted = {s: 1e6 + popularity.get(s, 0) for s in marketplace.held_out[request.user_id]}
        return greedy_panel({**popularity, **wanted}, request), np.ones(request.k)
    return policy


def test_on_one_category_popularity_and_a_good_policy_beat_random_beyond_the_interval():
    dump = one_category_dump()
    encoder = alike_encoder(dump)
    rewards = simulated_rewards({"Random": uniform_policy, "Popularity": _popularity_policy(dump, encoder),
                                 "Mind reader": _knows_what_users_take(dump, encoder)}, dump, encoder, CONFIG)
    popularity_gain = paired_difference(rewards["Popularity"], rewards["Random"])
    reader_gain = paired_difference(rewards["Mind reader"], rewards["Popularity"])
    assert popularity_gain.low > 0, popularity_gain
    assert reader_gain.low > 0, reader_gain
    assert mean_estimate(rewards["Random"]).value > 0  # random panels still earn something


def test_paired_episodes_meet_the_same_visitors_so_a_policy_against_itself_differs_by_nothing():
    dump = one_category_dump(users=40)
    encoder = alike_encoder(dump)
    rewards = simulated_rewards({"RL": uniform_policy, "Random": uniform_policy}, dump, encoder, CONFIG)
    np.testing.assert_array_equal(rewards["RL"], rewards["Random"])
    difference = paired_difference(rewards["RL"], rewards["Random"])
    assert (difference.value, difference.low, difference.high) == (0.0, 0.0, 0.0)


def test_the_last_taken_services_are_held_out_and_what_users_took_is_never_shown_again():
    assert split_taken([5, 6, 7, 8, 9], 0.2) == ([5, 6, 7, 8], [9])
    assert split_taken([5, 6], 0.2) == ([5], [6])
    assert split_taken([5], 0.5) == ([5], []) and split_taken([], 0.5) == ([], [])
    dump = one_category_dump(users=20)
    marketplace = snapshot_marketplace(dump, alike_encoder(dump))
    for user, taken in enumerate(u["accessed_services"] for u in dump["users"]):
        assert marketplace.histories[user] + sorted(marketplace.held_out[user], key=taken.index) == taken
        assert marketplace.ordered[user] == set(marketplace.histories[user])
    assert marketplace.popularity.max() == 1.0 and marketplace.popularity.min() >= 0.0


def test_evaluation_users_are_not_training_users():
    training, evaluation = user_split(100, 0.3, seed=1)
    assert len(evaluation) == 30 and len(training) == 70
    assert not set(training.tolist()) & set(evaluation.tolist())
    assert [a.tolist() for a in user_split(1, 0.3, seed=1)] == [[0], [0]]
