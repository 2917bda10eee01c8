"""The RL pipeline end to end: served panels and journeys → SARS → a registered, gated RL version
whose actor recommends distinct eligible services; a version that does not beat the baselines
beyond the interval is registered rejected."""
import uuid
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from app import model_registry
from app.dump_contract import RECOMMENDABLE_STATUSES
from app.engines import RecommendationContext
from app.engines.rl import RL, RLModel
from app.marketplace import dumps, ingestion
from app.pipelines.rl import run_rl_pipeline, validate_rl_version
from app.pipelines.sars_store import generate_sars, snapshot_context
from app.recommendation_log import flush_served
from app.rl.evaluation import short_of_baselines
from app.rl.snapshot_marketplace import split_taken
from app.rl.td3 import TD3Config
from app.rl.training import RLTrainingConfig
from app.storage.models import ModelVersion
from app.storage.raw_dumps import raw_dump
from app.training.autoencoder import AutoencoderConfig
from tests.fixtures.dumps import make_dump
from tests.pipelines.test_sars_store import order_from_panel, serve_panel
from tests.recommendations.serving_fixtures import serve_marketplace
from tests.rl.one_category import taken_by_popularity

TINY = RLTrainingConfig(td3=TD3Config(k=3, hidden=16, steps=60, batch_size=32, log_every=20, popularity_prior=True),
                        embedding=AutoencoderConfig(embedding_dim=8, hidden_dim=16, epochs=3),
                        simulated_fill_threshold=200, evaluation_episodes=60)
TINY_WITHOUT_PRIOR = replace(TINY, td3=replace(TINY.td3, popularity_prior=False))



def train_and_promote(config: RLTrainingConfig = TINY) -> str:
    """Train an RL version and make it the active one whatever the gate said (an operator's promote):
    for tests of serving, which need an RL version, not a good one. Needs an app context."""
    outcome = run_rl_pipeline(config=config)
    model_registry.activate(model_registry.get_version(outcome["model_id"]))
    return outcome["model_id"]


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


def test_a_trained_rl_version_has_metrics_intervals_plots_and_the_gates_verdict(app, client, marketplace):
    steps_seen = []
    with app.app_context():
        outcome = run_rl_pipeline(config=TINY, progress=lambda step, percent, **_: steps_seen.append(step))
        version = model_registry.get_version(outcome["model_id"])
        arrays = model_registry.load_arrays(version)
    metrics = version.metrics
    beats = not short_of_baselines(metrics)
    assert outcome["status"] == ("activated" if beats else "rejected") and version.engine == "RL"
    assert version.status == ("active" if beats else "rejected") and metrics["gate"]["reason"] == outcome["gate"]
    assert version.dataset_id == outcome["snapshot_id"] and version.config["digest"]
    assert metrics["data"] == {"real_transitions": 4, "simulated_transitions": 196,
                               "services": len(marketplace["services"])}
    assert set(metrics["simulated_rewards"]) == set(metrics["simulated_intervals"]) == {"RL", "Popularity", "Random"}
    for name, value in metrics["simulated_rewards"].items():
        low, high = metrics["simulated_intervals"][name]
        assert 0.0 <= value <= 1.0 and low < value < high
    for base in ("Random", "Popularity"):
        paired = metrics["rl_minus"][base]
        assert paired["difference"] == pytest.approx(metrics["simulated_rewards"]["RL"]
                                                     - metrics["simulated_rewards"][base])
        assert paired["interval"][0] < paired["difference"] < paired["interval"][1]
    assert metrics["simulation"]["episodes"] == 60 and metrics["simulation"]["users"] == len(marketplace["users"])
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
    # The popularity prior counts the users who took each service in the part of their history policies see:
    # a taking held out for evaluation does not count.
    visible = Counter(s for u in marketplace["users"] for s in split_taken(
        list(dict.fromkeys(x for x in u.get("accessed_services") or () if x in set(eligible))), 0.2)[0])
    expected_prior = np.log((np.array([visible.get(int(s), 0) for s in model.service_ids]) + 1.0)
                            / (len(marketplace["users"]) + 1.0))
    np.testing.assert_allclose(arrays["service_prior"], expected_prior, rtol=1e-5)
    for k in (3, 2):
        ids = RL(model).recommend(RecommendationContext(candidates=eligible, k=k, now=0.0,
                                                        user_features={"categories": (1,)})).ids
        assert len(ids) == k == len(set(ids.tolist())) and np.isin(ids, eligible).all()


def _candidate(trained: ModelVersion, reward: float, low_random: float, low_popularity: float) -> ModelVersion:
    """A version with the trained version's actor and the given evaluation (its simulated reward and the
    lower bounds of RL − Random and RL − Popularity), as the pipeline registers it."""
    paired = {"Random": {"difference": low_random + 0.01, "interval": [low_random, low_random + 0.02]},
              "Popularity": {"difference": low_popularity + 0.01, "interval": [low_popularity, low_popularity + 0.02]}}
    return model_registry.register("RL", model_registry.load_arrays(trained), trained.params,
                                   dataset_id=trained.dataset_id, config={"digest": str(uuid.uuid4())},
                                   metrics={"simulated_reward": reward, "rl_minus": paired, "ope": None})


def test_the_gate_wants_both_baselines_beaten_and_the_active_version_not_better(app, marketplace):
    with app.app_context():
        trained = model_registry.get_version(run_rl_pipeline(config=TINY)["model_id"])
        dump = raw_dump(trained.dataset_id)
        encoder, _ = snapshot_context(trained.dataset_id, TINY.embedding, TINY.history_length)

        def validate(version):
            outcome, gate = validate_rl_version(version, dump, encoder, TINY, np.zeros(TINY.evaluation_episodes))
            return outcome, gate, model_registry.get_version(str(version.id)).status

        ModelVersion.objects(engine="RL").update(status="retired")  # no active version, whatever the run's verdict
        beats = _candidate(trained, 0.3, 0.01, 0.02)
        outcome, gate, status = validate(beats)
        assert (outcome, status, gate["active"]) == ("activated", "active", None)
        assert gate["reason"].startswith("beats Random and Popularity beyond the 95% interval")

        outcome, gate, status = validate(_candidate(trained, 0.9, 0.01, -0.001))
        assert (outcome, status) == ("rejected", "rejected") and gate["active"] is None
        assert gate["reason"].startswith("does not beat Popularity beyond the 95% interval: RL − Popularity = 0.0090")

        # Beating the baselines, it must not be worse than the active version measured on the same visitors
        # (simulated rewards per panel lie in [0, 1]).
        outcome, gate, status = validate(_candidate(trained, -1.0, 0.01, 0.02))
        assert (outcome, status) == ("rejected", "rejected") and gate["active"]["model_id"] == str(beats.id)
        assert gate["reason"].startswith(f"worse than the active version {beats.id} on the same visitors")
        assert 0.0 <= gate["active"]["simulated_reward"] <= 1.0
        assert model_registry.active_version("RL").id == beats.id
        better = _candidate(trained, 2.0, 0.01, 0.02)
        outcome, gate, status = validate(better)
        assert (outcome, status) == ("activated", "active") and gate["active"]["model_id"] == str(beats.id)

        # ACTIVATE_ONLY_IF_NOT_WORSE off: the active version is not measured; the baselines still count.
        app.config["ACTIVATE_ONLY_IF_NOT_WORSE"] = False
        try:
            outcome, gate, status = validate(_candidate(trained, -1.0, 0.01, 0.02))
            assert (outcome, status, gate["active"]) == ("activated", "active", None)
            outcome, gate, status = validate(_candidate(trained, 0.9, -0.01, 0.02))
            assert (outcome, status) == ("rejected", "rejected")
            assert gate["reason"].startswith("does not beat Random beyond the 95% interval")
        finally:
            app.config["ACTIVATE_ONLY_IF_NOT_WORSE"] = True


def test_the_same_snapshot_and_config_train_once(app, marketplace):
    with app.app_context():
        # A rejected run may be tried again; once a version of the pair is active (here promoted by
        # an operator), the same snapshot and config are not trained twice.
        model_id = train_and_promote()
        assert run_rl_pipeline(config=TINY) == {"status": "exists", "model_id": model_id, "model_status": "active"}
    assert ModelVersion.objects(engine="RL").count() == 1


def test_the_commands_regenerate_sars_and_train(app, marketplace):
    from app.cli.rl import regenerate_sars_command, train_rl_command

    runner = app.test_cli_runner()
    regenerated = runner.invoke(regenerate_sars_command, ["--yes", "--settle-seconds", "0"])
    assert regenerated.exit_code == 0, regenerated.output
    assert "dropped: 4" in regenerated.output and "stored: 4" in regenerated.output
    trained = runner.invoke(train_rl_command, ["--steps", "20", "--fill", "100", "--no-sars"])
    assert trained.exit_code == 0, trained.output
    with app.app_context():
        version = ModelVersion.objects(engine="RL").get()
    assert f"status: {'activated' if version.status == 'active' else 'rejected'}" in trained.output
    assert f"gate: {version.metrics['gate']['reason']}" in trained.output


def one_category_dump(n_services: int = 60, n_users: int = 150) -> dict:
    """A whole dump whose services share one category and domain and every other feature (so the
    service autoencoder gives them one embedding), taken more often the higher their id."""
    dump = make_dump(n_services=n_services, n_users=n_users, seed=3)
    template = {key: value for key, value in dump["services"][0].items() if key not in ("id", "pid")}
    template |= {"status": "published", "categories": template["categories"][:1],
                 "scientific_domains": template["scientific_domains"][:1], "related_services": [],
                 "required_services": []}
    dump["services"] = [{**template, "id": s["id"], "pid": f"eosc.{s['id']}"} for s in dump["services"]]
    ids = [s["id"] for s in dump["services"]]
    for user, taken in zip(dump["users"], taken_by_popularity(ids, len(dump["users"]), seed=4)):
        user["accessed_services"] = taken
    return dump


def test_an_rl_version_that_does_not_beat_random_is_registered_rejected(app, db):
    # Without the popularity prior, services that look alike to the state encoder leave the actor
    # nothing to choose by: it shows the first candidates, the least taken ones, and the simulator
    # scores them below random panels.
    with app.app_context():
        snapshot = dumps.store_dump(one_category_dump(), source="test")
        ingestion.ingest_snapshot(snapshot.id)
        outcome = run_rl_pipeline(config=TINY_WITHOUT_PRIOR)
        version = model_registry.get_version(outcome["model_id"])
        assert model_registry.active_version("RL") is None
    metrics = version.metrics
    assert outcome["status"] == "rejected" and version.status == "rejected"
    low, high = metrics["rl_minus"]["Random"]["interval"]
    assert low <= metrics["rl_minus"]["Random"]["difference"] <= high and not low > 0
    assert short_of_baselines(metrics) == ["Random", "Popularity"]
    assert metrics["gate"]["outcome"] == "rejected" and metrics["gate"]["active"] is None
    assert metrics["gate"]["reason"].startswith("does not beat Random and Popularity beyond the 95% interval")
    assert outcome["gate"] == metrics["gate"]["reason"]
    # The simulator told the policies apart on this one-category catalogue.
    rewards = metrics["simulated_rewards"]
    assert rewards["Popularity"] > rewards["Random"] > rewards["RL"] and high < 0


def test_with_the_popularity_prior_the_same_catalogue_beats_random(app, db):
    # The prior tells the look-alike services apart by how many users took them.
    with app.app_context():
        snapshot = dumps.store_dump(one_category_dump(), source="test")
        ingestion.ingest_snapshot(snapshot.id)
        metrics = model_registry.get_version(run_rl_pipeline(config=TINY)["model_id"]).metrics
    assert metrics["rl_minus"]["Random"]["interval"][0] > 0
    assert "Random" not in short_of_baselines(metrics)
