"""A user action (POST /user_actions): the contract's shape, and the check of a body
that is one action or an array of them.

flask-restx checks the items of an array without naming their index, so a body is
checked here: errors of an array body are keyed `3.source.visit_id`. Optional
fields may be null (a client sends `"user_id": null` for an anonymous visitor); a
null `source.root` is a follow-up, as if absent.
"""
from __future__ import annotations

from flask_restx import Model, fields

from app.wire.checked_model import CheckedModel, InvalidPayload
from app.wire.fields import NullableNested, NullableString, NullableUuid, Uuid, nullable_id

PANEL_IDS = ["v1", "v2", "service", "", None]

ROOT = Model("UserActionRoot", {
    "type": fields.String(required=True, max_length=64, example="recommendation_panel",
                          description="what started the journey, e.g. recommendation_panel"),
    "panel_id": NullableString(enum=PANEL_IDS, description="the panel clicked in (v1, v2, service or empty)"),
    "resource_type": NullableString(max_length=64, example="service"),
    "resource_id": nullable_id("the clicked resource (a service id when resource_type is service)"),
})
SOURCE = Model("UserActionSource", {
    "visit_id": NullableUuid(required=True,
                             description="the visit the action left (null on a session's first page)"),
    "page_id": fields.String(required=True, max_length=2048, example="/services"),
    "root": NullableNested(ROOT, allow_null=True,
                           description="set on a click in a recommendation panel; absent or null on follow-ups"),
})
TARGET = Model("UserActionTarget", {
    "visit_id": Uuid(required=True, description="the visit the action led to"),
    "page_id": fields.String(required=True, max_length=2048, example="/services/egi-cloud-compute"),
})
DETAILS = Model("UserActionDetails", {
    "type": fields.String(required=True, max_length=64, example="button"),
    "text": fields.String(required=True, max_length=1024, example="Details"),
    "order": fields.Boolean(required=True, description="true when the action placed an order"),
})
USER_ACTION = CheckedModel("UserAction", {
    "id": NullableString(min_length=1, max_length=128,
                        description="extension: the client's id; a retry with the same id is stored once"),
    "user_id": nullable_id("the logged-in marketplace user"),
    "aai_uid": NullableString(max_length=256, description="federated identity; resolved to user_id when absent"),
    "unique_id": Uuid(required=True, description="browser session id"),
    "timestamp": fields.DateTime(required=True, example="2021-03-18T19:33:21.620Z"),
    "client_id": NullableString(max_length=64, example="marketplace"),
    "source": fields.Nested(SOURCE, required=True),
    "target": fields.Nested(TARGET, required=True),
    "action": fields.Nested(DETAILS, required=True),
})


def checked_actions(body) -> tuple[list[dict], bool]:
    """The actions of a body (one action object or an array of them) and whether it was
    one object; raises InvalidPayload naming every bad field."""
    for item in body if isinstance(body, list) else [body]:
        _null_root_is_absent(item)
    if isinstance(body, dict):
        errors, actions = USER_ACTION.errors(body), [body]
    elif isinstance(body, list):
        errors, actions = USER_ACTION.errors_of_items(body), body
    else:
        raise InvalidPayload({"$": "expected an action object or an array of them"})
    if errors:
        raise InvalidPayload(errors)
    return actions, isinstance(body, dict)


def _null_root_is_absent(item) -> None:
    # The schema's root is an object when present; null means a follow-up, so it goes.
    source = item.get("source") if isinstance(item, dict) else None
    if isinstance(source, dict) and "root" in source and source["root"] is None:
        del source["root"]
