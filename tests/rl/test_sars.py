"""SARS from a logged recommendation and the journeys that followed it."""
from __future__ import annotations

import numpy as np
import pytest

from app.rl.export import state_encoder
from app.rl.rewards import load_reward_table
from app.rl.sars import SarsBatch, build_sars
from tests.fixtures.journeys import make_journey
from tests.rl.test_rewards import as_branch

TABLE = load_reward_table()
SERVICES = np.array([1234, 55, 66, 77], dtype=np.int64)
EMBEDDINGS = np.eye(4, dtype=np.float32)
ENCODER = state_encoder(SERVICES, EMBEDDINGS, {"categories": {1234: [1], 55: [1], 66: [2], 77: [2]}})
RECORD = {"_id": "r1", "user_id": 1, "unique_id": "u1", "visit_id": "v1", "service_ids": [1234, 55, 66],
          "probabilities": [0.5, 0.3, 0.2], "created_at": "2021-03-18T19:33:21.620Z", "request": {},
          "user_features": {"categories": [2]}}


def test_an_ordered_panel_click_gives_a_finished_transition():
    branch = as_branch(make_journey(service_id=1234, order=True))
    sars = build_sars(RECORD, [branch], [77], ENCODER, TABLE)
    assert sars.state.shape == sars.next_state.shape == (8,) and sars.state.dtype == np.float32
    np.testing.assert_array_equal(sars.action_ids, [1234, 55, 66])
    np.testing.assert_array_equal(sars.action, EMBEDDINGS[[0, 1, 2]])
    np.testing.assert_array_equal(sars.item_rewards, [1.0, 0.0, 0.0])
    assert sars.reward == pytest.approx(np.sqrt(1 / 3)) and sars.done
    np.testing.assert_allclose(sars.propensities, [0.5, 0.3, 0.2])
    np.testing.assert_allclose(sars.state[:4], [0, 0, 0.5, 0.5])  # category 2: services 66 and 77
    np.testing.assert_allclose(sars.state[4:], [0, 0, 0, 1])  # history: 77
    np.testing.assert_allclose(sars.next_state[4:], [0.5, 0, 0, 0.5])  # history + the clicked 1234


def test_no_click_leaves_the_state_and_pads_to_k():
    sars = build_sars({**RECORD, "service_ids": [55, 66], "probabilities": [0.5, 0.5]}, [], [], ENCODER, TABLE, k=3)
    assert sars.reward == 0.0 and not sars.done
    np.testing.assert_array_equal(sars.action_ids, [55, 66, -1])
    assert not sars.action[2].any() and np.isnan(sars.propensities[2])
    np.testing.assert_array_equal(sars.state, sars.next_state)


def test_batch_stacks_and_round_trips():
    items = [build_sars(RECORD, [], [77], ENCODER, TABLE),
             build_sars(RECORD, [as_branch(make_journey(service_id=55, order=False))], [], ENCODER, TABLE)]
    batch = SarsBatch.from_sars(items)
    assert batch.states.shape == (2, 8) and batch.actions.shape == (2, 3, 4) and batch.rewards.shape == (2,)
    assert batch.item_rewards[1, 1] == pytest.approx(0.7)
    again = SarsBatch.from_arrays(batch.to_arrays())
    np.testing.assert_array_equal(again.actions, batch.actions)
    assert len(SarsBatch.concatenate([batch, again.subset(np.array([0]))])) == 3
