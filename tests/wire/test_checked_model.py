"""The one payload check: fast on a valid payload, every bad field named on any other.
Pure: models built here, no app, no database."""
import copy

import pytest
from flask_restx import Model, fields
from jsonschema import Draft4Validator

from app.errors import InvalidInput
from app.wire.checked_model import CheckedModel, InvalidPayload, nested_models
from app.wire.fields import NullableString, Uuid

PLACE = Model("Place", {"page_id": fields.String(required=True, max_length=8)})
VISIT = CheckedModel("Visit", {
    "visit_id": Uuid(required=True),
    "count": fields.Integer(min=0),
    "note": NullableString(max_length=4),
    "source": fields.Nested(PLACE, required=True),
    "pages": fields.List(fields.Nested(PLACE)),
})
GOOD = {"visit_id": "5642c351-80fe-44cf-b606-304f2f338122", "count": 2, "source": {"page_id": "/s"},
        "pages": [{"page_id": "/a"}]}


class NoJsonschema:
    def iter_errors(self, payload):
        raise AssertionError("jsonschema ran on a valid payload")


def model_without_jsonschema() -> CheckedModel:
    model = copy.deepcopy(VISIT)
    model.__dict__["_validator"] = NoJsonschema()
    return model


def test_a_valid_payload_is_answered_by_the_compiled_check_alone():
    model = model_without_jsonschema()
    assert model.quickly_valid(GOOD)
    assert model.errors(GOOD) == {}
    model.check(GOOD)
    with pytest.raises(AssertionError):
        model.check({**GOOD, "count": -1})


def test_every_bad_field_is_named_by_its_path():
    payload = {**GOOD, "count": -1, "note": "too long", "source": {}, "pages": [{"page_id": "/a"}, {"page_id": 5}]}
    assert VISIT.errors(payload) == {
        "count": "-1 is less than the minimum of 0",
        "note": "'too long' is too long",
        "source.page_id": "'page_id' is a required property",
        "pages.1.page_id": "5 is not of type 'string'",
    }


def test_the_whole_payload_is_named_dollar_and_paths_go_under_at():
    assert VISIT.errors([]) == {"$": "[] is not of type 'object'"}
    assert VISIT.errors([], at=("visits", 3)) == {"visits.3": "[] is not of type 'object'"}


def test_items_are_named_by_their_index():
    items = [GOOD, {**GOOD, "visit_id": "not-a-uuid"}, GOOD, 7]
    assert VISIT.errors_of_items(items, at=("visits",)) == {
        "visits.1.visit_id": "'not-a-uuid' is not a 'uuid'",
        "visits.3": "7 is not of type 'object'",
    }


def test_a_limit_bounds_the_errors_listed():
    items = [{**GOOD, "count": -1, "note": "too long"}] * 5
    errors = VISIT.errors_of_items(items, limit=3)
    assert list(errors) == ["0.count", "0.note", "1.count"]


def test_check_and_flask_restx_validate_raise_the_same_named_error():
    for call in (VISIT.check, VISIT.validate):
        with pytest.raises(InvalidPayload) as raised:
            call({**GOOD, "count": "2"})
        assert isinstance(raised.value, InvalidInput)
        assert raised.value.message == "Input payload validation failed"
        assert raised.value.errors == {"count": "'2' is not of type 'integer'"}


def test_the_draft_decides_what_the_compiled_check_cannot_vouch_for():
    """3.0 is an integer for the latest draft (what flask-restx validates with), not for draft 4."""
    latest = CheckedModel("Latest", {"count": fields.Integer()})
    draft4 = CheckedModel("Draft4", {"count": fields.Integer()}, draft=Draft4Validator)
    assert not latest.quickly_valid({"count": 3.0}) and latest.errors({"count": 3.0}) == {}
    assert draft4.errors({"count": 3.0}) == {"count": "3.0 is not of type 'integer'"}
    assert copy.deepcopy(draft4).draft is Draft4Validator


def test_a_schema_the_compiled_check_does_not_implement_is_left_to_jsonschema():
    class Word(fields.String):
        def schema(self):
            return {**super().schema(), "pattern": "^[a-z]+$"}

    model = CheckedModel("Word", {"word": Word()})
    assert not model.quickly_valid({"word": "ok"})
    assert model.errors({"word": "ok"}) == {}
    assert model.errors({"word": "Not ok"}) == {"word": "'Not ok' does not match '^[a-z]+$'"}


def test_nested_models_lists_the_model_then_each_model_it_nests_once():
    assert [model.name for model in nested_models(VISIT)] == ["Visit", "Place"]
    assert set(VISIT.json_schema()["definitions"]) == {"Place"}
