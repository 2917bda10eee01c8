"""A batch of generic interaction events (POST /events), `{"events": [...]}`: its
models, checked whole by `EVENT_BATCH.check`.

The compiled check does not implement the keywords of `params` (maxProperties,
patternProperties...): jsonschema checks every batch, as flask-restx did."""
from __future__ import annotations

from flask_restx import Model, fields

from app.wire.checked_model import CheckedModel
from app.wire.fields import INT64_MAX, NullableString, NullableUuid, nullable_id

# Kinds of events POST /events accepts; anything else is rejected, so a typo in
# a client does not become a new interaction type that trainers never expected.
EVENT_TYPES = (
    "view", "click", "cart", "remove_from_cart", "order", "rating", "bookmark", "share", "access",
)
# Keys MongoDB would read as operators or paths are refused.
RESERVED_KEY = r"^\$|\."


class EventParams(fields.Raw):
    """A flat object of strings and numbers."""

    __schema_type__ = ["object", "null"]

    def schema(self):
        return {
            **super().schema(),
            "x-nullable": True,
            "maxProperties": 50,
            "additionalProperties": {"type": ["string", "number"], "maxLength": 1024},
            "patternProperties": {RESERVED_KEY: {"not": {}, "description": "keys may not start with $ or hold a dot"}},
            "example": {"source": "search", "position": 3},
        }


class NullableNumber(fields.Float):
    __schema_type__ = ["number", "null"]

    def schema(self):
        return {**super().schema(), "x-nullable": True}


EVENT = Model("Event", {
    "id": NullableString(min_length=1, max_length=128,
                         description="the client's id: a retry with the same id is stored once"),
    "user_id": nullable_id("logged-in user (this or unique_id is required)"),
    "unique_id": NullableUuid(description="browser session id (this or user_id is required)"),
    "service_id": fields.Integer(required=True, min=0, max=INT64_MAX),
    "type": fields.String(required=True, enum=list(EVENT_TYPES)),
    "value": NullableNumber(description="e.g. the rating given; required for rating events"),
    "timestamp": fields.DateTime(required=True, example="2021-03-18T19:33:21.620Z"),
    "params": EventParams(description="extra details: an object of strings and numbers"),
})
EVENT_BATCH = CheckedModel("EventBatch", {"events": fields.List(fields.Nested(EVENT), required=True)})
