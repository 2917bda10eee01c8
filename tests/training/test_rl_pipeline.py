"""The RL pipeline end to end: served panels and journeys → SARS → a registered, gated RL version
whose actor recommends distinct eligible services."""
import uuid

import numpy as np
import pytest

from app import model_registry
from app.engines import RecommendationContext
from app.engines.rl import RL, RLModel
from app.recommendation_log import flush_served
from app.rl.td3 import TD3Config
from app.storage.models import ModelVersion
from app.training.autoencoder import AutoencoderConfig
from app.training.dataset import RECOMMENDABLE_STATUSES
from app.training.rl_pipeline import RLTrainingConfig, run_rl_pipeline
from app.training.sars_store import generate_sars
from tests.recommendations.serving_fixtures import serve_marketplace
from tests.training.test_sars_store import order_from_panel, serve_panel

TINY = RLTrainingConfig(td3=TD3Config(k=3, hidden=16, steps=60, batch_size=32, log_every=20),
                        embedding=AutoencoderConfig(embedding_dim=8, hidden_dim=16, epochs=3),
                        simulated_fill_threshold=200, evaluation_episodes=60)


@pytest.fixture
def marketplace(app, client, db):
    """A served marketplace with a few panels served, some of them ordered from, turned into SARS."""
    dump = serve_marketplace(app)
    for number in range(4):
        unique_id, visit_id = str(uuid.uuid4()), str(uuid.uuid4())
        shown = serve_panel(client, unique_id, visit_id)
        if number % 2 == 0:
            order_from_panel(client, unique_id, visit_id, shown[0])
    assert flush_served()
    with app.app_context():
        assert generate_sars(settle_seconds=0)["stored"] == 4
    return dump


def test_a_trained_rl_version_has_metrics_plots_and_is_activated(app, client, marketplace):
    steps_seen = []
    with app.app_context():
        outcome = run_rl_pipeline(config=TINY, progress=lambda step, percent, **_: steps_seen.append(step))
        version = model_registry.get_version(outcome["model_id"])
        arrays = model_registry.load_arrays(version)
    assert outcome["status"] == "activated" and version.status == "active" and version.engine == "RL"
    assert version.dataset_id == outcome["snapshot_id"] and version.config["digest"]
    metrics = version.metrics
    assert metrics["data"] == {"real_transitions": 4, "simulated_transitions": 196,
                               "services": len(marketplace["services"])}
    assert set(metrics["simulated_rewards"]) == {"RL", "Popularity", "Random"}
    assert all(0.0 <= value <= 1.0 for value in metrics["simulated_rewards"].values())
    # The panels were served by Popularity: logged probability 1, so item-level OPE applies.
    assert metrics["ope"]["items"] == 12 and metrics["ope"]["logged_mean_item_reward"] == pytest.approx(2 / 12)
    assert len(metrics["curve"]["critic_loss"]) == 3
    assert [s["step"] for s in metrics["steps"]] == [
        "extract", "simulate", "train", "evaluate", "register", "validate model"]
    assert sorted(version.plots) == ["rewards", "training"]
    assert client.get(f"/models/{version.id}/plots/training.png").data.startswith(b"\x89PNG")
    assert {"extract", "train", "validate model"} <= set(steps_seen)

    model = RLModel.from_arrays(arrays, version.params)
    eligible = np.array(sorted(s["id"] for s in marketplace["services"] if s["status"] in RECOMMENDABLE_STATUSES))
    for k in (3, 2):
        ids = RL(model).recommend(RecommendationContext(candidates=eligible, k=k, now=0.0,
                                                        user_features={"categories": (1,)})).ids
        assert len(ids) == k == len(set(ids.tolist())) and np.isin(ids, eligible).all()


def test_the_same_snapshot_and_config_train_once_and_another_is_activated_only_if_not_worse(app, marketplace):
    with app.app_context():
        first = run_rl_pipeline(config=TINY)
        assert run_rl_pipeline(config=TINY) == {"status": "exists", "model_id": first["model_id"],
                                                 "model_status": "active"}
        # Another config: the gate measures the active version again on the new one's simulated
        # visitors and logged panels, and activates only when the new one is not worse on both.
        second = run_rl_pipeline(config=RLTrainingConfig(**{**TINY.__dict__, "simulation_seed": 5}))
        version = model_registry.get_version(second["model_id"])
        gate = version.metrics["gate"]
        assert gate["model_id"] == first["model_id"]
        not_worse = version.metrics["simulated_reward"] >= gate["simulated_reward"] and (
            gate["snips"] is None or version.metrics["ope"]["snips"] >= gate["snips"])
        assert second["status"] == ("activated" if not_worse else "rejected")
        active = model_registry.active_version("RL")
        assert str(active.id) == (second["model_id"] if not_worse else first["model_id"])
    assert ModelVersion.objects(engine="RL").count() == 2


def test_the_commands_regenerate_sars_and_train(app, marketplace):
    from app.cli.rl import regenerate_sars_command, train_rl_command

    runner = app.test_cli_runner()
    regenerated = runner.invoke(regenerate_sars_command, ["--yes", "--settle-seconds", "0"])
    assert regenerated.exit_code == 0, regenerated.output
    assert "dropped: 4" in regenerated.output and "stored: 4" in regenerated.output
    trained = runner.invoke(train_rl_command, ["--steps", "20", "--fill", "100", "--no-sars"])
    assert trained.exit_code == 0, trained.output
    assert "status: activated" in trained.output
