"""Bad bodies on every JSON endpoint: a 4xx in the one error shape, never a 500."""
import json

import pytest
import requests

JSON_ENDPOINTS = ["/recommendations", "/scores", "/user_actions", "/events", "/update"]


def assert_error_shape(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"message", "errors"} and body["message"] and body["errors"]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_malformed_json_is_400(client, db, path):
    assert_error_shape(client.post(path, data='{"unique_id": ', content_type="application/json"), 400)


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_non_json_content_type_is_415(client, db, path):
    assert_error_shape(client.post(path, data="unique_id=1", content_type="application/x-www-form-urlencoded"), 415)


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_json_scalar_body_is_400(client, db, path):
    assert_error_shape(client.post(path, data="42", content_type="application/json"), 400)


@pytest.mark.parametrize("path", ["/recommendations", "/scores", "/user_actions", "/events"])
def test_a_body_over_the_limit_is_413_over_real_http(live_server, app, path):
    limit = app.config["MAX_REQUEST_BYTES"]
    body = json.dumps({"padding": "x" * (limit + 1)})
    response = requests.post(f"{live_server}{path}", data=body, headers={"Content-Type": "application/json"},
                             timeout=30)
    assert response.status_code == 413
    assert set(response.json()) == {"message", "errors"}


def test_an_unknown_route_over_real_http_is_a_json_404(live_server):
    response = requests.get(f"{live_server}/no/such/route", timeout=10)
    assert response.status_code == 404 and response.json()["errors"]


@pytest.mark.parametrize("mask", ["{", "id,{", "id}"])
def test_a_malformed_x_fields_mask_is_400_naming_the_header(client, db, mask):
    response = client.get("/models", headers={"X-Fields": mask})
    assert response.status_code == 400
    assert response.get_json()["message"] == "the X-Fields header is not a valid field mask"
    assert "X-Fields" in response.get_json()["errors"]


def test_a_valid_x_fields_mask_still_selects_fields(client, db):
    response = client.get("/datasets", headers={"X-Fields": "active_snapshot_id"})
    assert response.status_code == 200 and response.get_json() == {"active_snapshot_id": None}


def test_a_request_line_over_the_servers_limit_is_its_414_and_one_under_it_reaches_the_api(live_server):
    # gunicorn.conf.py: GUNICORN_LIMIT_REQUEST_LINE, 4,094 bytes by default; tests/api/fuzzing_hooks.py
    # relies on this answer.
    long_query = "&".join(["hours=1"] * 700)  # 4,899 bytes
    assert requests.get(f"{live_server}/stats/traffic?{long_query}", timeout=10).status_code == 414
    under = requests.get(f"{live_server}/stats/traffic?hours={'1' * 3000}", timeout=10)
    assert under.status_code == 400
    assert set(under.json()["errors"]) == {"hours"}
