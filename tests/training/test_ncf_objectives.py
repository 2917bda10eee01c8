"""NCF's click and cart sides, on the planted dump with clicks planted against the orders:
each user orders services of their own category and clicks services of the other one."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from app.engines import NCF, InteractionType, NCFModel, RecommendationContext
from app.training.dataset import interaction_data_from_dump
from app.training.ncf_objectives import SERVICE_SIDE, Positives, objective_positives, why_not_trained
from app.training.ncf_training import train_ncf
from tests.training.planted import DRAFTS, GROUP_SERVICES, planted_dump, small_config

DUMP = planted_dump()
DATA = interaction_data_from_dump(DUMP)


def planted_clicks(clicks: int = 5, seed: int = 1) -> dict[str, np.ndarray]:
    """Each user clicks `clicks` services of the other category, one a minute, then views one of them."""
    rng = np.random.default_rng(seed)
    keys, services, types, stamps = [], [], [], []
    for user in DUMP["users"]:
        other = 2 if user["id"] % 2 else 1
        chosen = [int(s) for s in rng.permutation([s for s in GROUP_SERVICES[other] if s not in DRAFTS])[:clicks]]
        for minute, service in enumerate(chosen + chosen[:1]):
            keys.append(f"user:{user['id']}")
            services.append(service)
            types.append(InteractionType.VIEW if minute == clicks else InteractionType.CLICK)
            stamps.append(1_700_000_000.0 + 60 * minute)
    return {"keys": np.array(keys, dtype=object), "service_ids": np.array(services, np.int64),
            "types": np.array(types, np.int8), "timestamps": np.array(stamps)}


def objective_config(epochs: int = 15, objective_epochs: int = 40):
    config = small_config(epochs=epochs)
    return replace(config, objective_min_positives=50, objective_epochs=objective_epochs,
                   ncf=replace(config.ncf, history_length=2))


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    return train_ncf(DATA, objective_config(), objectives=objective_positives(DATA, planted_clicks()))


def test_positives_are_the_users_clicks_each_pair_once_at_its_latest():
    arrays = planted_clicks(clicks=2)
    extra = {"keys": np.array(["user:1", "visitor:abc", "user:999", "user:1"], dtype=object),
             "service_ids": np.array([arrays["service_ids"][0], 101, 101, 12345], np.int64),
             "types": np.full(4, InteractionType.CLICK, np.int8),
             "timestamps": np.array([1_800_000_000.0, 1.0, 1.0, 1.0])}
    both = {name: np.concatenate([arrays[name], extra[name]]) for name in arrays}
    positives = objective_positives(DATA, both)
    clicks = positives["click"]
    assert len(clicks) == 2 * len(DUMP["users"])  # views, visitors, unknown users and services left out
    pairs = set(zip(DATA.users.ids[clicks.users].tolist(), DATA.services.ids[clicks.items].tolist()))
    assert len(pairs) == len(clicks)
    again = np.flatnonzero((DATA.users.ids[clicks.users] == 1) & (DATA.services.ids[clicks.items]
                                                                   == arrays["service_ids"][0]))
    assert clicks.order[again].tolist() == [1_800_000_000.0]  # the later click of the same pair
    assert len(positives["cart"]) == 0


def test_an_objective_without_enough_positives_of_its_own_is_not_trained():
    clicks = objective_positives(DATA, planted_clicks())["click"]
    assert why_not_trained(clicks, DATA, 50) is None
    assert "fewer than 1000" in why_not_trained(clicks, DATA, 1000)
    orders = Positives(DATA.user_rows, DATA.service_rows, DATA.order)
    assert why_not_trained(orders, DATA, 50) == "every positive is also an order"


def test_the_click_side_finds_the_next_click_the_order_model_does_not(trained):
    click = trained.metrics["objectives"]["click"]
    assert click["trained"] and click["positives"] == 5 * len(DUMP["users"])
    assert click["NCF"]["hr@3_full"] >= 0.4  # chance: about 3 in 16; knowing the group: 3 in 4
    assert click["NCF order model"]["hr@3_full"] <= 0.1  # it ranks the user's own category first
    assert trained.metrics["objectives"]["cart"] == {"positives": 0, "users": 0, "trained": False,
                                                     "reason": "0 positives, fewer than 50"}


def test_only_the_service_side_is_its_own(trained):
    model = trained.model
    assert model.objectives == ("click",)
    click = model.for_objective("click")
    assert click.user_gmf is model.user_gmf and click.mlp_weight is model.mlp_weight
    assert not np.array_equal(click.service_gmf, model.service_gmf)
    assert model.for_objective("cart") is model and model.for_objective("order") is model
    assert {"item_gmf", "item_mlp", "head"} == set(SERVICE_SIDE)


def test_the_sides_survive_storage_and_a_model_without_them_loads_as_before(trained):
    model = trained.model
    arrays = model.to_arrays()
    assert {"objective_click_service_gmf", "objective_click_head_bias"} <= set(arrays)
    loaded = NCFModel.from_arrays(arrays, model.params())
    assert loaded.objectives == ("click",)
    for name, array in model.objective_sides["click"].items():
        np.testing.assert_array_equal(loaded.objective_sides["click"][name], array)
    older = NCFModel.from_arrays({key: value for key, value in arrays.items() if not key.startswith("objective_")},
                                 model.params())
    assert older.objectives == () and older.for_objective("click") is older


def test_the_engine_serves_each_objective_with_its_side(trained):
    engine = NCF(trained.model)
    user = 1  # orders category 1, clicks category 2
    candidates = np.array([s for group in GROUP_SERVICES.values() for s in group if s not in DRAFTS])
    taken = np.array(DUMP["users"][0]["accessed_services"])

    def panel(objective):
        context = RecommendationContext(candidates=np.setdiff1d(candidates, taken), k=4, now=0.0, user_id=user,
                                        taken=taken, objective=objective)
        return engine.recommend(context).ids

    assert np.isin(panel("click"), GROUP_SERVICES[2]).sum() >= 3
    assert np.isin(panel("order"), GROUP_SERVICES[1]).all()
    assert panel("cart").tolist() == panel("order").tolist()  # no side of its own: the order model's
    assert panel("click").tolist() == panel("click").tolist()  # the cached scores are the click side's
