"""The wire schema of a full marketplace dump (POST /update), and its check.

These models are what Swagger shows and what `check_dump` checks, so there is
one schema. Every top-level key and the item fields the contract lists are
required unless marked optional; extra keys anywhere are allowed and ignored.
Ids are JSON integers that fit MongoDB's 64-bit integers, so an id given as a
string, a float or an operator object such as {"$gt": 0} is rejected here: the
models check with jsonschema's draft 4, where 1.0 is no integer (later drafts
count it as one).
"""
from __future__ import annotations

import logging

from flask_restx import fields
from jsonschema import Draft4Validator

from app.dump_contract import DUMP_KEYS
from app.wire.checked_model import VALIDATION_FAILED, CheckedModel, InvalidPayload
from app.wire.fields import INT64_MAX, NullableString

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 1000  # bounds the 400 body of a dump that is wrong everywhere


def _model(name: str, item_fields: dict) -> CheckedModel:
    return CheckedModel(name, item_fields, draft=Draft4Validator)


def _id(description: str = "the marketplace's integer id", **kwargs) -> fields.Integer:
    return fields.Integer(required=True, min=0, max=INT64_MAX, description=description, **kwargs)


def _ids(description: str, required: bool = True) -> fields.List:
    return fields.List(fields.Integer(min=0, max=INT64_MAX), required=required, description=description)


def _string(description: str | None = None, required: bool = True) -> fields.String:
    return fields.String(required=required, description=description)


SERVICE = _model("DumpService", {
    "id": _id(),
    "pid": NullableString(description="persistent identifier (optional)"),
    "name": _string(),
    "description": _string(),
    "tagline": _string(),
    "countries": fields.List(fields.String, required=True, description="country codes"),
    "order_type": _string("e.g. open_access, order_required"),
    "rating": _string("the average rating, as a string"),
    "horizontal": fields.Boolean(required=True),
    "status": _string("published and unverified services are recommendable", required=False),
    "categories": _ids("category ids"),
    "providers": _ids("provider ids"),
    "resource_organisation": _id("the provider that owns the service"),
    "scientific_domains": _ids("scientific domain ids"),
    "platforms": _ids("platform ids"),
    "target_users": _ids("target user ids"),
    "related_services": _ids("service ids"),
    "required_services": _ids("service ids (optional)", required=False),
    "access_types": _ids("access type ids"),
    "access_modes": _ids("access mode ids"),
    "trls": _ids("technology readiness level ids"),
    "life_cycle_statuses": _ids("life cycle status ids"),
    "research_steps": _ids("research step ids"),
})

USER = _model("DumpUser", {
    "id": _id(),
    "aai_uid": _string("federated identity"),
    "scientific_domains": _ids("scientific domain ids"),
    "categories": _ids("category ids"),
    "accessed_services": _ids("service ids, in the order the user took them"),
})

PROJECT = _model("DumpProject", {
    "id": _id(),
    "user_id": _id("the user who owns the project"),
    "services": _ids("service ids"),
})

NAMED = _model("DumpNamedItem", {"id": _id(), "name": _string()})

PROVIDER = _model("DumpProvider", {
    "id": _id(),
    "pid": NullableString(required=True, description="persistent identifier"),
    "name": _string(),
})

DESCRIBED = _model("DumpDescribedItem", {
    "id": _id(),
    "name": _string(),
    "description": NullableString(required=True),
})

# Dump key → the model of its items, in the contract's order.
ITEM_MODELS = {
    "services": SERVICE,
    "users": USER,
    "projects": PROJECT,
    "categories": NAMED,
    "scientific_domains": NAMED,
    "platforms": NAMED,
    "providers": PROVIDER,
    "target_users": DESCRIBED,
    "access_modes": DESCRIBED,
    "access_types": DESCRIBED,
    "trls": DESCRIBED,
    "life_cycle_statuses": DESCRIBED,
    "research_steps": DESCRIBED,
}

DUMP = _model("Dump", {
    key: fields.List(fields.Nested(model), required=True) for key, model in ITEM_MODELS.items()
})


# --- Checking -------------------------------------------------------------------

class InvalidDump(InvalidPayload):
    """A dump refused: every bad field named, or the first MAX_LISTED_ERRORS of them."""

    def __init__(self, errors: dict, more: bool = False):
        listed = f"first {len(errors)} problems listed" if more else f"{len(errors)} problem(s)"
        super().__init__(errors, f"{VALIDATION_FAILED}: {listed}")


def check_dump(payload) -> None:
    """Return quietly for a valid dump; raise InvalidDump naming every bad field, then
    every id that occurs twice in one list."""
    if not DUMP.quickly_valid(payload):
        errors = dump_errors(payload, MAX_LISTED_ERRORS)
        if errors:
            raise InvalidDump(errors, more=len(errors) >= MAX_LISTED_ERRORS)
        log.warning("the compiled dump check rejected a dump that jsonschema accepts; accepted")
    errors = duplicate_ids(payload, MAX_LISTED_ERRORS)
    if errors:
        raise InvalidDump(errors, more=len(errors) >= MAX_LISTED_ERRORS)


def dump_errors(payload, limit: int = MAX_LISTED_ERRORS) -> dict[str, str]:
    """Every bad field as {json.path: reason}, at most `limit` of them.

    The top level is checked first (its lists emptied); then each item on its own, so
    that jsonschema runs only on the items the compiled check rejects and naming the
    fields of a large dump stays fast.
    """
    if not isinstance(payload, dict):
        return DUMP.errors(payload, limit=limit)
    lists = {key: payload[key] for key in DUMP_KEYS if isinstance(payload.get(key), list)}
    errors = DUMP.errors({**payload, **dict.fromkeys(lists, [])}, limit=limit)
    for key, items in lists.items():
        ITEM_MODELS[key].errors_of_items(items, (key,), limit, errors)
    return errors


def duplicate_ids(payload: dict, limit: int = MAX_LISTED_ERRORS) -> dict[str, str]:
    """Ids that occur twice in one list (the schema cannot say ids are unique)."""
    errors: dict[str, str] = {}
    for key in DUMP_KEYS:
        first_seen: dict[int, int] = {}
        for index, item in enumerate(payload[key]):
            where = first_seen.setdefault(item["id"], index)
            if where != index:
                errors[f"{key}.{index}.id"] = f"duplicate id {item['id']} (also at {key}.{where})"
                if len(errors) >= limit:
                    return errors
    return errors
