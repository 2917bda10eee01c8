"""POST /user_actions: one action object (the contract's shape) or an array of them.

The body is checked by `checked_actions` (app/wire/user_actions.py) against the
`UserAction` model Swagger shows, rather than by flask-restx, which checks array
items without naming their index.
"""
from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource

from app.marketplace.user_actions import store_user_actions
from app.wire.checked_model import register
from app.wire.user_actions import USER_ACTION, checked_actions

ns = Namespace("user_actions", path="/user_actions", description="Page-to-page user actions (clicks, orders)")
register(ns, USER_ACTION)


@ns.route("")
class UserActions(Resource):
    @ns.doc(security="bearer")
    @ns.expect(USER_ACTION, validate=False)  # checked by checked_actions: same model, indexed error paths
    @ns.response(204, "every action is stored durably (journaled on a majority of the replica set)")
    @ns.response(400, "invalid: nothing was stored; `errors` names every bad field")
    def post(self):
        """Store user actions: one action object, or a JSON array of them (all or nothing).

        An array is one batch: if any item is invalid the whole batch is rejected
        with 400, its errors keyed by item index (`3.source.visit_id`), and nothing
        is stored. Follow-up actions without `source.root` are stored too. An action
        whose `id` (or, without one, whose whole content) was stored before is not
        stored again, and the request still answers 204.
        """
        actions, single = checked_actions(request.get_json())
        store_user_actions(actions, single=single)
        return "", 204
