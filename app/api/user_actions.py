"""POST /user_actions: one action object (the contract's shape) or an array of them.

The body is checked against the `UserAction` model below (the one Swagger
shows) here rather than by flask-restx, because flask-restx checks array items
without naming their index; errors of an array body are keyed `3.source.visit_id`.
Optional fields may be null (a client sends `"user_id": null` for an anonymous
visitor); a null `source.root` is a follow-up, as if absent.
"""
from __future__ import annotations

from functools import lru_cache

from flask import request
from flask_restx import Namespace, Resource, fields
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from app.errors import InvalidInput
from app.marketplace.user_actions import store_user_actions
from app.wire.fields import NullableNested, NullableString, NullableUuid, Uuid, nullable_id

ns = Namespace("user_actions", path="/user_actions", description="Page-to-page user actions (clicks, orders)")

PANEL_IDS = ["v1", "v2", "service", "", None]


root = ns.model("UserActionRoot", {
    "type": fields.String(required=True, max_length=64, example="recommendation_panel",
                          description="what started the journey, e.g. recommendation_panel"),
    "panel_id": NullableString(enum=PANEL_IDS, description="the panel clicked in (v1, v2, service or empty)"),
    "resource_type": NullableString(max_length=64, example="service"),
    "resource_id": nullable_id("the clicked resource (a service id when resource_type is service)"),
})
source = ns.model("UserActionSource", {
    "visit_id": NullableUuid(required=True,
                             description="the visit the action left (null on a session's first page)"),
    "page_id": fields.String(required=True, max_length=2048, example="/services"),
    "root": NullableNested(root, allow_null=True,
                           description="set on a click in a recommendation panel; absent or null on follow-ups"),
})
target = ns.model("UserActionTarget", {
    "visit_id": Uuid(required=True, description="the visit the action led to"),
    "page_id": fields.String(required=True, max_length=2048, example="/services/egi-cloud-compute"),
})
details = ns.model("UserActionDetails", {
    "type": fields.String(required=True, max_length=64, example="button"),
    "text": fields.String(required=True, max_length=1024, example="Details"),
    "order": fields.Boolean(required=True, description="true when the action placed an order"),
})
action = ns.model("UserAction", {
    "id": NullableString(min_length=1, max_length=128,
                        description="extension: the client's id; a retry with the same id is stored once"),
    "user_id": nullable_id("the logged-in marketplace user"),
    "aai_uid": NullableString(max_length=256, description="federated identity; resolved to user_id when absent"),
    "unique_id": Uuid(required=True, description="browser session id"),
    "timestamp": fields.DateTime(required=True, example="2021-03-18T19:33:21.620Z"),
    "client_id": NullableString(max_length=64, example="marketplace"),
    "source": fields.Nested(source, required=True),
    "target": fields.Nested(target, required=True),
    "action": fields.Nested(details, required=True),
})


@lru_cache(maxsize=1)
def _validator():
    schema = {**action.__schema__, "definitions": {name: model.__schema__ for name, model in ns.models.items()}}
    return validator_for(schema)(schema, format_checker=FormatChecker())


def _errors(item, prefix: str) -> dict[str, str]:
    return {prefix + path if path else prefix.rstrip(".") or "$": reason
            for path, reason in map(action.format_error, _validator().iter_errors(item))}


def _null_root_is_absent(item) -> None:
    source = item.get("source") if isinstance(item, dict) else None
    if isinstance(source, dict) and "root" in source and source["root"] is None:
        del source["root"]


def checked_actions(body) -> tuple[list[dict], bool]:
    """The actions of a request body (one object or an array); raises InvalidInput naming every bad field."""
    for item in body if isinstance(body, list) else [body]:
        _null_root_is_absent(item)
    if isinstance(body, dict):
        errors, actions = _errors(body, ""), [body]
    elif isinstance(body, list):
        errors, actions = {}, body
        for index, item in enumerate(body):
            errors.update(_errors(item, f"{index}."))
    else:
        raise InvalidInput("Input payload validation failed", {"$": "expected an action object or an array of them"})
    if errors:
        raise InvalidInput("Input payload validation failed", errors)
    return actions, isinstance(body, dict)


@ns.route("")
class UserActions(Resource):
    @ns.doc(security="bearer")
    @ns.expect(action, validate=False)  # checked by checked_actions: same model, indexed error paths
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
