"""A newly activated model version serves without a restart; nothing loads on the request path."""
import time

import numpy as np

from app import model_registry
from app.engines import encode_types, fit_popularity
from tests.recommendations.serving_fixtures import serve_marketplace

REQUEST = {
    "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "timestamp": "2021-03-18T18:49:55.006Z",
    "visit_id": None, "page_id": "/services", "search_data": {}, "engine_version": "Popularity",
}


def only_popular(service_id: int):
    """A Popularity model in which one service is all anyone ever ordered."""
    now = time.time()
    return fit_popularity(np.full(50, service_id, dtype=np.int64), encode_types(["order"] * 50), np.full(50, now))


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_activating_another_version_changes_answers_without_a_restart(app, client, db):
    dump = serve_marketplace(app)
    favourite = next(s["id"] for s in dump["services"] if s["status"] == "published")
    holder = app.extensions["serving_state"]
    before = holder.current().model_versions["Popularity"]
    with app.app_context():
        model = only_popular(favourite)
        version = model_registry.register("Popularity", model.to_arrays(), model.params(), dataset_id=None)
        model_registry.activate(version)
    time.sleep(1.1)  # the stamp is compared at most once a second
    client.post("/recommendations", json=REQUEST)  # notices the stamp, rebuilds in the background
    assert wait_for(lambda: holder.current().model_versions.get("Popularity") == str(version.id))
    body = client.post("/recommendations", json=REQUEST).get_json()
    assert before != str(version.id)
    assert body["recommendations"][0] == favourite and body["model_version"] == str(version.id)


def test_a_request_before_any_data_is_answered_empty_not_500(app, client, db):
    app.extensions["serving_state"].rebuild_now()
    response = client.post("/recommendations", json=REQUEST)
    assert response.status_code == 200
    assert response.get_json()["recommendations"] == []


def test_a_rebuild_reuses_what_did_not_change(app, db):
    serve_marketplace(app)
    holder = app.extensions["serving_state"]
    before = holder.current()
    with app.app_context():
        model = only_popular(int(before.catalogue.ids[0]))
        model_registry.activate(model_registry.register("Popularity", model.to_arrays(), model.params(),
                                                        dataset_id=None))
        from app.recommendations.serving_state import build_state, current_stamp

        after = build_state(current_stamp(), previous=before)
    assert after.catalogue is before.catalogue and after.dump_users is before.dump_users
    assert after.engines["Session"] is before.engines["Session"]  # same version: not loaded again
    assert after.engines["Popularity"] is not before.engines["Popularity"]


def test_the_first_snapshot_is_served_from_the_request_that_notices_it(app, client, db):
    from app.marketplace import dumps, ingestion
    from tests.fixtures.dumps import make_dump

    holder = app.extensions["serving_state"]
    with app.app_context():
        holder.rebuild_now()  # warmed before any data, as a worker booting on an empty database
        snapshot = dumps.store_dump(make_dump(n_services=40, n_users=20, seed=3), source="test")
        ingestion.ingest_snapshot(snapshot.id)
    time.sleep(1.1)  # the stamp is compared at most once a second
    body = client.post("/recommendations", json={**REQUEST, "engine_version": "Random"}).get_json()
    assert len(body["recommendations"]) == 3 and holder.current().catalogue.snapshot_id == snapshot.id


def test_a_refresher_swaps_in_a_new_version_before_any_request_asks(app, db):
    from app.recommendations.serving_state import ServingStateHolder

    dump = serve_marketplace(app)
    favourite = next(s["id"] for s in dump["services"] if s["status"] == "published")
    holder = ServingStateHolder()
    with app.app_context():
        holder.warm()
    holder.start_refresher(app, every=0.05)
    try:
        with app.app_context():
            model = only_popular(favourite)
            version = model_registry.register("Popularity", model.to_arrays(), model.params(), dataset_id=None)
            model_registry.activate(version)
        # Read without an app context: `current()` with a refresher touches no database.
        assert wait_for(lambda: holder.current().model_versions.get("Popularity") == str(version.id))
    finally:
        holder.stop_refresher()


def test_with_a_refresher_a_request_waits_for_the_first_snapshot_being_built(app, db, monkeypatch):
    from app.marketplace import dumps, ingestion
    from app.recommendations import serving_state
    from tests.fixtures.dumps import make_dump

    holder = serving_state.ServingStateHolder()
    with app.app_context():
        holder.warm()  # a worker booting on an empty database
        assert holder.current().catalogue.snapshot_id is None
        snapshot = dumps.store_dump(make_dump(n_services=40, n_users=20, seed=3), source="test")
        ingestion.ingest_snapshot(snapshot.id)
    built = serving_state.build_state

    def slow_build(*args, **kwargs):
        time.sleep(0.5)
        return built(*args, **kwargs)

    monkeypatch.setattr(serving_state, "build_state", slow_build)  # a build long enough to come during
    holder.start_refresher(app, every=0.05)
    try:
        assert wait_for(holder._refresher_building.locked, timeout=5)
        assert holder.current().catalogue.snapshot_id == snapshot.id  # waited for the build, not served empty
    finally:
        holder.stop_refresher()


def test_weights_are_mapped_from_the_hosts_file_written_once_from_gridfs(settings, app, db, tmp_path):
    from app import create_app
    from app.recommendations.serving_state import serving_arrays

    mapping = create_app(settings | {"WEIGHTS_CACHE_DIR": str(tmp_path / "weights")})
    copying = create_app(settings | {"WEIGHTS_CACHE_DIR": ""})
    with mapping.app_context():
        model = only_popular(7)
        version = model_registry.register("Popularity", model.to_arrays(), model.params(), dataset_id=None)
        mapped = serving_arrays(version)
        written = tmp_path / "weights" / f"{version.weights_sha256}.safetensors"
        assert written.is_file() and not any(array.flags.writeable for array in mapped.values())
        model_registry._files().delete(version.weights_file_id)  # GridFS is not read again on this host
        again = serving_arrays(version)
    assert set(again) == set(model.to_arrays())
    for name, array in model.to_arrays().items():
        np.testing.assert_array_equal(again[name], array)
    with copying.app_context():
        other = only_popular(8)
        version = model_registry.register("Popularity", other.to_arrays(), other.params(), dataset_id=None)
        assert all(array.flags.writeable for array in serving_arrays(version).values())  # its own copy
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [written.name]
    app.extensions["celery"].set_default()  # the suite's app's again
