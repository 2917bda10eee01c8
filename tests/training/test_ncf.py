"""NCF training: it finds a planted preference, samples only allowed negatives, stops early,
weighs recent positives more, gives each positive the history taken before it and serves its
members as one network."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from app.training.baselines import RandomBaseline
from app.training.dataset import interaction_data_from_dump
from app.training.evaluation import leave_last_out, ranking_metrics
from app.training.ncf import fit_ncf
from app.training.ncf_ensembles import distilled, merged
from app.training.ncf_examples import (
    TrainingExamples,
    epoch_examples,
    history_windows,
    later_interactions,
    latest_windows,
    recency_weights,
)
from app.training.ncf_network import NCFConfig, NCFNetwork
from app.training.ncf_training import train_ncf
from tests.training.planted import DRAFTS, planted_dump, small_config

DATA = interaction_data_from_dump(planted_dump())


def _content(width: int, rows: int) -> np.ndarray:
    return np.zeros((rows, width), np.float32)


def test_ncf_learns_the_planted_preference():
    result = train_ncf(DATA, small_config())
    split = leave_last_out(DATA.user_rows, DATA.service_rows, DATA.order)
    chance = ranking_metrics(RandomBaseline(DATA.n_services).score_users, split, DATA.recommendable, k=3)
    # Ranking the user's own kind first puts the held-out service in the top 3 for 3 in 5 odd users
    # (5 of their kind left untrained) and every even user (3 left, drafts excluded): HR@3 near 0.8.
    # By chance it is about 3 in 13.
    assert result.metrics["hr@3_full"] >= 0.7 > chance["hr@3_full"] + 0.4
    assert result.metrics["reports"]["ncf"]["validation_hr_at_10"] == 1.0


def test_negatives_are_recommendable_services_the_user_never_took():
    rng = np.random.default_rng(0)
    pool = np.flatnonzero(DATA.recommendable)
    taken_keys = np.unique(DATA.user_rows * DATA.n_services + DATA.service_rows)
    users, items, labels = epoch_examples(rng, DATA.user_rows, DATA.service_rows, pool, taken_keys,
                                          DATA.n_services, per_positive=4)
    negatives = labels == 0
    assert negatives.sum() == 4 * DATA.user_rows.size
    assert np.isin(items[negatives], pool).all()
    assert not np.isin(DATA.services.ids[items[negatives]], DRAFTS).any()
    assert not np.isin(users[negatives] * DATA.n_services + items[negatives], taken_keys).any()


def test_progress_is_reported_each_epoch_with_its_loss():
    calls = []
    config = replace(small_config(epochs=3).ncf, patience=10, refit=False)
    fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, _content(4, DATA.n_users), _content(4, DATA.n_services),
            DATA.recommendable, config,
            progress=lambda step, percent, **details: calls.append((step, percent, details)))
    assert [(step, round(percent)) for step, percent, _ in calls] == [("ncf", 33), ("ncf", 67), ("ncf", 100)]
    assert [details["epoch"] for _, _, details in calls] == [1, 2, 3]
    assert all(details["loss"] > 0 for _, _, details in calls)


def test_early_stopping_stops_and_keeps_the_best_epoch():
    # A learning rate this high makes validation NDCG stop improving quickly.
    config = NCFConfig(gmf_dim=4, mlp_embedding_dim=4, mlp_layers=(8,), epochs=200, batch_size=64,
                       learning_rate=0.3, patience=2)
    model, report = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, _content(4, DATA.n_users),
                            _content(4, DATA.n_services), DATA.recommendable, config)
    assert report.epochs < 200
    assert report.epochs - report.best_epoch == 2
    assert report.refitted and not model.training


def test_the_refit_trains_on_every_pair_for_the_best_epoch_count():
    calls = []
    config = replace(small_config(epochs=4).ncf, patience=10)
    _, report = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, _content(4, DATA.n_users),
                        _content(4, DATA.n_services), DATA.recommendable, config,
                        progress=lambda step, percent, **details: calls.append((step, details["epoch"])))
    refit = [epoch for step, epoch in calls if step == "ncf_refit"]
    assert refit == list(range(1, report.best_epoch + 1))


def test_the_same_seed_gives_the_same_model():
    config = replace(small_config(epochs=3).ncf, patience=10)
    content_u, content_s = _content(4, DATA.n_users), _content(4, DATA.n_services)
    one, _ = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, content_u, content_s, DATA.recommendable, config)
    two, _ = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, content_u, content_s, DATA.recommendable, config)
    for name, tensor in one.state_dict().items():
        assert (tensor == two.state_dict()[name]).all(), name


@pytest.mark.parametrize("refit", [False, True])
def test_the_run_gives_json_able_config_and_metrics(refit):
    import json

    result = train_ncf(DATA, replace(small_config(epochs=2), refit_on_all=refit))
    assert json.loads(json.dumps(result.config))["ncf"]["mlp_layers"] == [16, 8]
    assert set(json.loads(json.dumps(result.metrics))) >= {"hr@3_sampled", "ndcg@3_full", "reports"}
    assert (result.metrics["reports"]["ncf_serving"] is not None) == refit
    assert result.model.user_ids.tolist() == list(range(1, 61))
    # The served arrays hold every member side by side.
    assert result.model.service_gmf.shape[1] == result.config["ncf"]["members"] * result.config["ncf"]["gmf_dim"]


def test_recency_weights_halve_every_half_life_interactions_back():
    users = np.array([1, 0, 1, 1, 0])
    order = np.array([2.0, 0.0, 0.0, 1.0, 1.0])
    assert later_interactions(users, order).tolist() == [0, 1, 2, 1, 0]
    assert recency_weights(users, order, half_life=1.0).tolist() == [1.0, 0.5, 0.25, 0.5, 1.0]
    assert recency_weights(users, order, half_life=0.0).tolist() == [1.0] * 5


def test_history_windows_hold_the_items_taken_strictly_before():
    users = np.array([1, 0, 1, 0, 1, 1, 1])
    items = np.array([10, 20, 11, 21, 12, 13, 14])
    order = np.array([0.0, 5.0, 1.0, 3.0, 2.0, 2.0, 9.0])  # 12 and 13 tie: input position decides
    windows = history_windows(users, items, order, length=2, padding=-1)
    assert windows.tolist() == [[-1, -1], [-1, 21], [-1, 10], [-1, -1], [10, 11], [11, 12], [12, 13]]
    assert history_windows(users, items, order, length=0, padding=-1).shape == (7, 0)
    latest = latest_windows(users, items, order, n_users=3, length=3, padding=-1)
    assert latest.tolist() == [[-1, 21, 20], [12, 13, 14], [-1, -1, -1]]  # user 2 took nothing


def test_each_negative_shares_its_positives_window():
    config = replace(small_config().ncf, history_length=3, negatives_per_positive=2)
    examples = TrainingExamples.of(DATA.user_rows, DATA.service_rows, DATA.order, DATA.recommendable, config)
    users, _, labels, _, history = examples.draw(np.random.default_rng(0))
    positives = DATA.user_rows.size
    assert (labels[:positives] == 1).all() and history.shape == (3 * positives, 3)
    np.testing.assert_array_equal(history[:positives], history_windows(DATA.user_rows, DATA.service_rows,
                                                                       DATA.order, 3, DATA.n_services))
    np.testing.assert_array_equal(history[positives:], np.repeat(history[:positives], 2, axis=0))
    assert (users[positives:] == np.repeat(users[:positives], 2)).all()


def test_the_history_shifts_the_users_gmf_factors_by_their_mean():
    rng = np.random.default_rng(0)
    config = NCFConfig(gmf_dim=4, mlp_embedding_dim=3, mlp_layers=(6,), history_length=3)
    model = NCFNetwork(rng.normal(size=(5, 2)), rng.normal(size=(6, 2)), config).eval()
    torch.nn.init.normal_(model.history_gmf.weight, std=1.0)
    plain = NCFNetwork(rng.normal(size=(5, 2)), rng.normal(size=(6, 2)), replace(config, history_length=0))
    assert [name for name in model.state_dict() if name not in plain.state_dict()] == ["history_gmf.weight"]
    history = torch.tensor([[6, 6, 6], [6, 1, 4], [0, 2, 3]])  # row 6 pads
    expected = torch.stack([torch.zeros(4), model.history_gmf.weight[[1, 4]].mean(0),
                            model.history_gmf.weight[[0, 2, 3]].mean(0)])
    with torch.no_grad():
        torch.testing.assert_close(model.history_vector(history), expected)
        users, items = torch.tensor([0, 1, 2]), torch.tensor([3, 3, 3])
        # No history and a window of padding alone score alike.
        assert model.score_rows(users[:1], items[:1], history[:1]) == model.score_rows(users[:1], items[:1])


@pytest.mark.parametrize("history_length", [0, 2])
def test_merged_members_score_the_mean_of_their_logits(history_length):
    rng = np.random.default_rng(0)
    user_content, item_content = rng.normal(size=(7, 3)), rng.normal(size=(9, 5))
    config = NCFConfig(gmf_dim=4, mlp_embedding_dim=3, mlp_layers=(6, 5), history_length=history_length)
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        member = NCFNetwork(user_content, item_content, config)
        for parameter in member.parameters():  # far from the initial near-zero values
            torch.nn.init.normal_(parameter, std=0.5)
        members.append(member.eval())
    wide = merged(members)
    users, items = torch.tensor([0, 1, 2, 7, 7]), torch.tensor([0, 3, 9, 8, 9])  # row 7 / 9: no id
    content_u = torch.as_tensor(user_content, dtype=torch.float32)[torch.tensor([0, 1, 2, 6, 0])]
    content_i = torch.as_tensor(item_content, dtype=torch.float32)[torch.tensor([0, 3, 1, 8, 2])]
    history = torch.tensor([[9, 9], [9, 4], [0, 8], [2, 2], [5, 1]])[:, :history_length]  # row 9 pads
    with torch.no_grad():
        mean = sum(member(users, items, content_u, content_i, history) for member in members) / 3
        assert torch.allclose(wide(users, items, content_u, content_i, history), mean, atol=1e-5)
    assert wide.user_gmf.weight.shape == (8, 12) and wide.config.mlp_layers == (18, 15)
    if history_length:
        assert wide.history_gmf.weight.shape == (10, 12)


def test_the_final_fit_trains_each_member_and_serves_them_merged():
    calls = []
    config = replace(small_config(epochs=3).ncf, patience=10, members=2, distill=False)
    model, report = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, _content(4, DATA.n_users),
                            _content(4, DATA.n_services), DATA.recommendable, config,
                            progress=lambda step, percent, **details: calls.append((step, details["epoch"])))
    assert [step for step, _ in calls].count("ncf_refit") == report.best_epoch
    assert [step for step, _ in calls].count("ncf_refit_2") == report.best_epoch
    assert report.members == 2 and model.config.gmf_dim == 2 * config.gmf_dim


def test_a_distilled_student_learns_the_teachers_scores_at_one_members_size():
    rng = np.random.default_rng(0)
    content_u, content_s = rng.normal(size=(DATA.n_users, 4)), rng.normal(size=(DATA.n_services, 4))
    config = NCFConfig(gmf_dim=4, mlp_embedding_dim=4, mlp_layers=(8,), batch_size=64, learning_rate=0.01,
                       id_dropout=0.0, members=2, distill=True, distill_from_first=False,
                       distill_learning_rate=0.01, distill_negatives_per_positive=8)
    torch.manual_seed(0)
    teacher = NCFNetwork(content_u, content_s, replace(config, gmf_dim=8, mlp_embedding_dim=8, mlp_layers=(16,)))
    for parameter in teacher.parameters():  # scores unrelated to the labels: only soft targets teach them
        torch.nn.init.normal_(parameter, std=0.5)
    examples = TrainingExamples.of(DATA.user_rows, DATA.service_rows, DATA.order, DATA.recommendable, config)
    first = NCFNetwork(content_u, content_s, config)
    student = distilled(teacher.eval(), first, examples, config, 60, None, np.random.default_rng(0))
    users, items = (torch.as_tensor(grid.ravel()) for grid in np.meshgrid(np.arange(DATA.n_users),
                                                                           np.flatnonzero(DATA.recommendable)))
    labelled = distilled(teacher.eval(), first, examples, replace(config, distill_alpha=1.0), 60, None,
                         np.random.default_rng(0))  # trained on the hard labels alone
    with torch.no_grad():
        taught, learned = teacher.score_rows(users, items), student.score_rows(users, items)
        assert np.corrcoef(taught, learned)[0, 1] > 0.9
        assert np.corrcoef(taught, labelled.score_rows(users, items))[0, 1] < 0.5
    assert student.user_gmf.weight.shape == first.user_gmf.weight.shape and not student.training


def test_with_distill_the_final_fit_serves_one_members_size():
    calls = []
    config = replace(small_config(epochs=3).ncf, patience=10, members=2, distill=True, distill_epochs=2)
    model, report = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, _content(4, DATA.n_users),
                            _content(4, DATA.n_services), DATA.recommendable, config,
                            progress=lambda step, percent, **details: calls.append((step, details["epoch"])))
    assert [step for step, _ in calls].count("ncf_refit_2") == report.best_epoch
    assert [epoch for step, epoch in calls if step == "ncf_refit_distill"] == [1, 2]
    assert model.config.gmf_dim == config.gmf_dim and model.config.mlp_layers == config.mlp_layers
    assert report.members == 2
    result = train_ncf(DATA, replace(small_config(epochs=2), ncf=replace(small_config(epochs=2).ncf, members=2,
                                                                            distill=True, distill_epochs=1)))
    assert result.model.service_gmf.shape[1] == result.config["ncf"]["gmf_dim"]
    assert result.config["ncf"]["distill"] is True


def test_with_a_history_term_members_and_the_student_carry_it_to_serving():
    calls = []
    config = replace(small_config(epochs=3).ncf, patience=10, members=2, distill=True, distill_epochs=2,
                     history_length=3)
    model, _ = fit_ncf(DATA.user_rows, DATA.service_rows, DATA.order, _content(4, DATA.n_users),
                       _content(4, DATA.n_services), DATA.recommendable, config,
                       progress=lambda step, percent, **details: calls.append(step))
    assert calls.count("ncf_refit_distill") == 2
    assert model.history_gmf.weight.shape == (DATA.n_services + 1, config.gmf_dim)
    training = replace(small_config(epochs=2), ncf=replace(config, distill_epochs=1))
    result = train_ncf(DATA, training)
    assert result.model.service_history_gmf.shape == (DATA.n_services, config.gmf_dim)
    assert result.model.hyperparameters.history_length == 3 == result.config["ncf"]["history_length"]
    # A history term that is trained (not left at its initial values) changes the evaluation.
    without = train_ncf(DATA, replace(training, ncf=replace(training.ncf, history_length=0)))
    assert without.model.service_history_gmf is None and without.model.hyperparameters.history_length == 0
    assert result.metrics["ndcg@3_full"] != without.metrics["ndcg@3_full"]
