"""The API under gunicorn's configured worker class (gevent), over real HTTP: concurrent
requests are answered and their writes stored and logged, a model activated meanwhile
is picked up by the worker's background rebuild, and dumps are parsed and validated
off its event loop with the same answers as elsewhere."""
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app import model_registry
from devstack import services
from tests.conftest import LOGS, start_gunicorn
from tests.fixtures.dumps import make_dump
from tests.recommendations.serving_fixtures import serve_marketplace
from tests.recommendations.test_serving_state import only_popular, wait_for

CONCURRENT = 16


def panel_request(number: int) -> dict:
    return {"unique_id": str(uuid.UUID(int=number + 1)), "timestamp": "2021-03-18T18:49:55.006Z",
            "visit_id": str(uuid.UUID(int=10_000 + number)), "page_id": "/services", "panel_id": "v1",
            "search_data": {}, "engine_version": "Popularity"}


def click(number: int) -> dict:
    return {"unique_id": str(uuid.UUID(int=number + 1)), "timestamp": "2021-03-18T19:33:21.620Z",
            "client_id": "marketplace", "id": str(uuid.UUID(int=20_000 + number)),
            "source": {"visit_id": str(uuid.UUID(int=10_000 + number)), "page_id": "/services",
                       "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": 1}},
            "target": {"visit_id": str(uuid.UUID(int=30_000 + number)), "page_id": "/services/x"},
            "action": {"type": "button", "text": "Details", "order": False}}


@pytest.fixture
def server(app, db, settings):
    dump = serve_marketplace(app)
    log_name = f"gunicorn-{uuid.uuid4().hex[:8]}.log"
    proc, url = start_gunicorn({**settings, "LOG_LEVEL": "INFO"}, log_name)  # INFO: gunicorn names its worker
    yield url, dump, LOGS / log_name
    services.stop(proc)


def post_all(url: str, bodies: list[dict]) -> list[requests.Response]:
    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(lambda body: requests.post(url, json=body, timeout=30), bodies))


def test_the_configured_worker_class_is_gevent(server):
    _, _, log = server
    assert wait_for(lambda: "Using worker: gevent" in log.read_text())


def test_concurrent_recommendations_are_answered_and_every_one_logged(server, db):
    url, dump, _ = server
    answers = post_all(f"{url}/recommendations", [panel_request(n) for n in range(CONCURRENT)])
    assert [a.status_code for a in answers] == [200] * CONCURRENT, [a.text for a in answers if a.status_code != 200]
    recommendable = {s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")}
    assert all(set(a.json()["recommendations"]) <= recommendable for a in answers)
    assert all(len(a.json()["recommendations"]) == 3 for a in answers)
    # The served-recommendation log writes in the background: every answer reaches it.
    visits = {panel_request(n)["visit_id"] for n in range(CONCURRENT)}
    assert wait_for(lambda: {r["visit_id"] for r in db["recommendations"].find()} == visits)


def test_concurrent_user_actions_are_all_stored_before_their_204(server, db):
    url, _, _ = server
    answers = post_all(f"{url}/user_actions", [click(n) for n in range(CONCURRENT)])
    assert [a.status_code for a in answers] == [204] * CONCURRENT, [a.text for a in answers if a.status_code != 204]
    assert db["user_actions"].count_documents({}) == CONCURRENT  # no waiting: 204 means journaled


def test_a_model_activated_while_serving_is_served_without_a_restart(server, app):
    url, dump, _ = server
    favourite = next(s["id"] for s in dump["services"] if s["status"] == "published")
    with app.app_context():
        model = only_popular(favourite)
        version = model_registry.register("Popularity", model.to_arrays(), model.params(), dataset_id=None)
        model_registry.activate(version)

    def served_by_new_version() -> bool:
        body = requests.post(f"{url}/recommendations", json=panel_request(99), timeout=30).json()
        return body["model_version"] == str(version.id) and body["recommendations"][0] == favourite

    assert wait_for(served_by_new_version, timeout=15)


def test_a_dump_parsed_and_validated_off_the_event_loop_is_accepted(server, db):
    url, _, _ = server
    dump = make_dump(n_services=30, n_users=20, seed=5)
    response = requests.post(f"{url}/update", json=dump, timeout=60)
    assert response.status_code == 202, response.text
    assert db["dataset_snapshots"].count_documents({"checksum": {"$exists": True}}) == 2  # the fixture's + this


def test_an_invalid_dump_posted_under_gevent_is_a_400_naming_the_field(server, db):
    url, _, _ = server
    dump = make_dump(n_services=30, n_users=20, seed=6)
    dump["services"][3]["name"] = 7
    before = db["dataset_snapshots"].count_documents({}), db["dumps.files"].count_documents({})
    response = requests.post(f"{url}/update", json=dump, timeout=60)
    assert response.status_code == 400
    assert "services.3.name" in response.json()["errors"]
    assert (db["dataset_snapshots"].count_documents({}), db["dumps.files"].count_documents({})) == before


def test_a_body_that_is_not_json_is_a_400_under_gevent(server):
    url, _, _ = server
    response = requests.post(f"{url}/update", data=b"{not json", headers={"Content-Type": "application/json"},
                             timeout=30)
    assert response.status_code == 400 and response.json()["message"]


def test_a_worker_started_while_the_database_is_down_says_so_in_one_line(settings):
    log_name = f"gunicorn-nodb-{uuid.uuid4().hex[:8]}.log"
    proc, _ = start_gunicorn(settings | {"MONGODB_URI": "mongodb://127.0.0.1:1/marketrec_down",
                                         "MONGODB_TIMEOUT_MS": 300}, log_name)
    try:
        services.wait_until(lambda: "could not warm" in (LOGS / log_name).read_text(), 60, "the warm-up")
        logged = (LOGS / log_name).read_text()
        assert "the database is unreachable" in logged and "Traceback" not in logged, logged
    finally:
        services.stop(proc)
