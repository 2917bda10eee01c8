import numpy as np
import pytest

from app import model_registry as registry
from app.errors import NotFound
from app.storage.models import ModelVersion, active_engines


def register(app, hr, engine="NCF"):
    arrays = {"user_embeddings": np.arange(12, dtype=np.float32).reshape(3, 4), "item_ids": np.array([7, 9, 11])}
    return registry.register(engine, arrays, {"dim": 4}, dataset_id="ds-1", config={"epochs": 3},
                             metrics={"hr@10": hr})


def test_arrays_round_trip_through_gridfs(app, db):
    with app.app_context():
        version = register(app, 0.5)
        arrays = registry.load_arrays(version)
        assert arrays["user_embeddings"].dtype == np.float32
        np.testing.assert_array_equal(arrays["user_embeddings"], np.arange(12).reshape(3, 4))
        np.testing.assert_array_equal(arrays["item_ids"], [7, 9, 11])
        assert version.status == "candidate" and version.params == {"dim": 4}


def test_activation_retires_the_previous_version_and_bumps_the_stamp(app, db):
    with app.app_context():
        first, second = register(app, 0.5), register(app, 0.6)
        stamp = registry.registry_stamp()
        registry.activate(first, metric="hr@10")
        registry.activate(second, metric="hr@10")
        assert registry.registry_stamp() == stamp + 2
        assert registry.active_version("NCF").id == second.id
        assert ModelVersion.objects.get(id=first.id).status == "retired"
        assert {"NCF", "NCFRanking"} <= active_engines()


def test_a_worse_candidate_is_rejected_and_the_active_one_stays(app, db):
    with app.app_context():
        good, worse = register(app, 0.6), register(app, 0.4)
        registry.activate(good, metric="hr@10")
        with pytest.raises(registry.ModelRejected, match="hr@10"):
            registry.activate(worse, metric="hr@10")
        assert registry.active_version("NCF").id == good.id
        assert ModelVersion.objects.get(id=worse.id).status == "rejected"


def test_an_operator_rolls_back_to_a_retired_version(app, db):
    with app.app_context():
        old, new = register(app, 0.6), register(app, 0.7)
        registry.activate(old)
        registry.activate(new)
        registry.activate(registry.get_version(str(old.id)))
        assert registry.active_version("NCF").id == old.id


def test_tampered_weights_are_refused(app, db):
    with app.app_context():
        version = register(app, 0.5)
        version.weights_sha256 = "0" * 64
        with pytest.raises(ValueError, match="digest"):
            registry.load_arrays(version)


@pytest.mark.parametrize("version_id", ["nope", "65f000000000000000000000"])
def test_unknown_versions_are_not_found(app, db, version_id):
    with app.app_context(), pytest.raises(NotFound):
        registry.get_version(version_id)
