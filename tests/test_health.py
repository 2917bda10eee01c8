import requests

from devstack import services
from tests.conftest import start_gunicorn


def test_health_is_up_with_every_dependency_answering(client, db, worker):
    response = client.get("/health")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "UP"
    for component in ("database", "broker", "celery_worker"):
        assert body[component]["status"] == "UP", body
    assert body["celery_worker"]["queues"]["default"] >= 1
    assert body["celery_worker"]["queues"]["training"] >= 1


def test_health_lists_one_node_per_model_engine(client, db, worker):
    engines = client.get("/health").get_json()["engines"]
    assert set(engines) >= {"NCF", "NCFRanking", "RL"}
    # Nothing is trained in an empty database.
    assert all(node["status"] == "NOT_READY" for node in engines.values())


def test_health_is_down_with_503_when_database_and_broker_do_not_answer(settings):
    broken = settings | {"MONGODB_URI": "mongodb://127.0.0.1:1/x", "MONGODB_TIMEOUT_MS": 300,
                         "REDIS_URL": "redis://127.0.0.1:1/0", "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
                         "CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0", "HEALTH_TIMEOUT_SECONDS": 0.5}
    proc, url = start_gunicorn(broken)
    try:
        response = requests.get(f"{url}/health", timeout=10)
    finally:
        services.stop(proc)
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "DOWN"
    for component in ("database", "broker", "celery_worker"):
        assert body[component]["status"] == "DOWN" and body[component]["error"], body
