"""An API client with nothing behind it: a refused payload is answered before any
database or broker is asked, so tests of the checks need no services."""
import pytest

from app import create_app

NOWHERE = {
    "APP_ENV": "testing",
    "MONGODB_URI": "mongodb://127.0.0.1:1/nowhere",
    "MONGODB_TIMEOUT_MS": 200,
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    "CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0",
    "API_TOKENS": [],
    "RECOMMENDATION_TOKENS": [],
    "SENTRY_DSN": "",
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def api_without_services():
    return create_app(NOWHERE).test_client()


def refused_by_api(client, path: str, body) -> dict:
    """The `errors` of the 400 the API answers for `body`."""
    response = client.post(path, json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["message"] == "Input payload validation failed"
    return response.get_json()["errors"]
