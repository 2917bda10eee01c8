"""POST /events: a batch of generic interaction events, `{"events": [...]}`."""
from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields

from app.marketplace.events import EVENT_TYPES, store_events
from app.wire.fields import INT64_MAX, NullableString, NullableUuid, nullable_id

ns = Namespace("events", path="/events", description="Generic interaction events")

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


event = ns.model("Event", {
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
batch = ns.model("EventBatch", {"events": fields.List(fields.Nested(event), required=True)})


@ns.route("")
class Events(Resource):
    @ns.doc(security="bearer")
    @ns.expect(batch)
    @ns.response(204, "every event is stored durably (journaled on a majority of the replica set)")
    @ns.response(400, "invalid: nothing was stored; `errors` names every bad field (`events.3.type`)")
    def post(self):
        """Store a batch of events, all or nothing.

        If any event is invalid the whole batch is rejected with 400 and nothing
        is stored. An event whose `id` (or, without one, whose whole content) was
        stored before is not stored again, and the request still answers 204.
        """
        store_events(request.get_json()["events"])
        return "", 204
