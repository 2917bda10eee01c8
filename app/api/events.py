"""POST /events: a batch of generic interaction events, `{"events": [...]}`."""
from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource

from app.marketplace.events import store_events
from app.wire.checked_model import register
from app.wire.events import EVENT_BATCH

ns = Namespace("events", path="/events", description="Generic interaction events")
register(ns, EVENT_BATCH)


@ns.route("")
class Events(Resource):
    @ns.doc(security="bearer")
    @ns.expect(EVENT_BATCH)  # validated: flask-restx calls the model's check
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
