"""Bearer tokens on writes once API_TOKENS is configured."""
import pytest

from app import create_app


@pytest.fixture
def secured(settings, app):
    secured = create_app(settings | {"API_TOKENS": ["write-token"], "RECOMMENDATION_TOKENS": ["read-token"]})
    app.extensions["celery"].set_default()
    return secured.test_client()


def test_a_write_without_a_token_is_401_json(secured):
    response = secured.post("/jobs/selfcheck")
    assert response.status_code == 401
    assert response.get_json() == {"message": "a bearer token is required",
                                   "errors": {"Authorization": "missing bearer token"}}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic d3JpdGUtdG9rZW4=", "Bearer read-token", "write-token"])
def test_a_write_with_a_wrong_token_is_401(secured, header):
    response = secured.post("/jobs/selfcheck", headers={"Authorization": header})
    assert response.status_code == 401
    assert "Authorization" in response.get_json()["errors"]


def test_a_write_with_a_valid_token_passes(secured, db, worker):
    response = secured.post("/jobs/selfcheck", headers={"Authorization": "Bearer write-token"})
    assert response.status_code == 202, response.get_json()


def test_reads_need_no_token(secured, db):
    assert secured.get("/swagger.json").status_code == 200
    assert secured.get("/jobs/unknown").status_code == 404


def test_without_configured_tokens_writes_are_open(client, db, worker):
    assert client.post("/jobs/selfcheck").status_code == 202
