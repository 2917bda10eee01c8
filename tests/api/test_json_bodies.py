"""Request bodies are parsed by orjson, and by Python's json where orjson refuses them."""
import json
import math

import pytest

from app.api.json_bodies import OrjsonBodies
from app.errors import InvalidInput
from tests.fixtures.dumps import make_dump


@pytest.fixture
def provider(app):
    return OrjsonBodies(app)


def test_a_body_parses_as_pythons_json_parses_it(provider):
    body = json.dumps({"ids": [1, 2**63 - 1, -5], "x": 0.1, "s": "zürich ✓", "n": None, "nested": [{"a": [True]}]})
    assert provider.loads(body.encode()) == json.loads(body)
    assert provider.loads(body) == json.loads(body)


@pytest.mark.parametrize("body", ['{"value": NaN}', '{"value": 1e400}'])
def test_what_orjson_refuses_is_parsed_by_pythons_json(provider, body):
    parsed = provider.loads(body)
    expected = json.loads(body)
    assert str(parsed) == str(expected)  # NaN is not equal to itself
    if "NaN" in body:
        assert math.isnan(parsed["value"])


def test_malformed_json_still_raises_what_flask_turns_into_a_400(provider):
    with pytest.raises(ValueError):
        provider.loads(b'{"events": [')


# orjson reads an integer beyond 64 bits as a float; either way it is no id, and the answer names it.
@pytest.mark.parametrize("user_id", [2**64, 2**70, -(2**63) - 1])
def test_an_id_beyond_64_bits_is_still_a_400_naming_the_field(client, db, user_id):
    response = client.post("/events", json={"events": [
        {"user_id": user_id, "service_id": 1, "type": "view", "timestamp": "2021-03-18T19:33:21.620Z"}]})
    assert response.status_code == 400
    assert "events.0.user_id" in response.get_json()["errors"]


def test_a_dump_id_beyond_64_bits_is_still_a_400_naming_the_field(client, db):
    dump = make_dump(n_services=3, n_users=2, seed=5)
    dump["services"][1]["id"] = 2**65
    response = client.post("/update", json=dump)
    assert response.status_code == 400
    assert any(path.startswith("services.1.id") for path in response.get_json()["errors"]), response.get_json()


@pytest.mark.parametrize("body", ['["\\ud800"]', '{"a": {"\\udfff": 1}}', '{"a": [1, "x\\ud800y"]}'])
def test_a_string_with_a_lone_surrogate_is_refused_as_no_unicode_text(provider, body):
    with pytest.raises(InvalidInput) as refused:
        provider.loads(body)
    assert "not valid Unicode" in refused.value.errors["$"]


@pytest.mark.parametrize("path, body", [
    ("/recommendations", {"page_id": "/services\ud800"}),
    ("/events", {"events": [{"service_id": 1, "type": "view", "timestamp": "2021-03-18T19:33:21.620Z",
                             "params": {"q": "\ud800"}}]}),
    ("/user_actions", {"extra": "\udc00"}),
])
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_it(client, db, path, body):
    response = client.post(path, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "not valid Unicode" in response.get_json()["errors"]["$"]
