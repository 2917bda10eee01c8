"""The recommendation and score requests: flask-restx's validation runs their compiled
check, and jsonschema only names the fields of a bad request. Pure: no services."""
import pytest

from app.wire.checked_model import FORMATS, InvalidPayload
from app.wire.recommendation_requests import RECOMMENDATION_REQUEST, SCORE_REQUEST
from tests.test_schema_check import REQUEST
from tests.wire.conftest import refused_by_api
from tests.wire.test_checked_model import NoJsonschema


def test_a_valid_request_is_answered_without_jsonschema(monkeypatch):
    monkeypatch.setitem(RECOMMENDATION_REQUEST.__dict__, "_validator", NoJsonschema())
    RECOMMENDATION_REQUEST.validate(REQUEST, format_checker=FORMATS)  # flask-restx's call
    with pytest.raises(AssertionError):
        RECOMMENDATION_REQUEST.validate({**REQUEST, "k": 0}, format_checker=FORMATS)


def test_a_request_that_is_a_float_where_an_integer_goes_is_still_accepted():
    """As flask-restx's own validation did: the compiled check refuses 3.0, jsonschema accepts it."""
    RECOMMENDATION_REQUEST.check({**REQUEST, "k": 3.0})


@pytest.mark.parametrize("model, path, body, errors", [
    (RECOMMENDATION_REQUEST, "/recommendations", {**REQUEST, "k": 0, "candidates": [1, -2]},
     {"k": "0 is less than the minimum of 1", "candidates.1": "-2 is less than the minimum of 0"}),
    (RECOMMENDATION_REQUEST, "/recommendations", {**REQUEST, "context_service_id": "egi-cloud-compute"},
     {"context_service_id": "'egi-cloud-compute' is not of type 'integer', 'null'"}),
    (SCORE_REQUEST, "/scores", {**REQUEST, "service_ids": [], "session": [{"service_id": 1}]},
     {"service_ids": "[] should be non-empty", "session.0.type": "'type' is a required property",
      "session.0.timestamp": "'timestamp' is a required property"}),
])
def test_a_bad_request_is_a_400_naming_its_fields(api_without_services, model, path, body, errors):
    with pytest.raises(InvalidPayload) as raised:
        model.check(body)
    assert raised.value.errors == errors
    assert refused_by_api(api_without_services, path, body) == errors
