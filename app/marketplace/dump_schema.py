"""The wire schema of a full marketplace dump (POST /update), as flask-restx models.

These models are what Swagger shows and what `validate_dump` checks, so there is
one schema. Every top-level key and the item fields the contract lists are
required unless marked optional; extra keys anywhere are allowed and ignored.
Ids are JSON integers that fit MongoDB's 64-bit integers, so an id given as a
string, a float or an operator object such as {"$gt": 0} is rejected here.
"""
from __future__ import annotations

from flask_restx import Model, fields
from jsonschema import Draft4Validator, FormatChecker

from app.schema_check import compile_checker
from app.wire.fields import INT64_MAX, NullableString


def _id(description: str = "the marketplace's integer id", **kwargs) -> fields.Integer:
    return fields.Integer(required=True, min=0, max=INT64_MAX, description=description, **kwargs)


def _ids(description: str, required: bool = True) -> fields.List:
    return fields.List(fields.Integer(min=0, max=INT64_MAX), required=required, description=description)


def _string(description: str | None = None, required: bool = True) -> fields.String:
    return fields.String(required=required, description=description)


SERVICE = Model("DumpService", {
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

USER = Model("DumpUser", {
    "id": _id(),
    "aai_uid": _string("federated identity"),
    "scientific_domains": _ids("scientific domain ids"),
    "categories": _ids("category ids"),
    "accessed_services": _ids("service ids, in the order the user took them"),
})

PROJECT = Model("DumpProject", {
    "id": _id(),
    "user_id": _id("the user who owns the project"),
    "services": _ids("service ids"),
})

NAMED = Model("DumpNamedItem", {"id": _id(), "name": _string()})

PROVIDER = Model("DumpProvider", {
    "id": _id(),
    "pid": NullableString(required=True, description="persistent identifier"),
    "name": _string(),
})

DESCRIBED = Model("DumpDescribedItem", {
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
DUMP_KEYS = tuple(ITEM_MODELS)

DUMP = Model("Dump", {
    key: fields.List(fields.Nested(model), required=True) for key, model in ITEM_MODELS.items()
})


def dump_json_schema() -> dict:
    """The dump model's JSON schema with the item models inlined as definitions."""
    definitions = {model.name: model.__schema__ for model in ITEM_MODELS.values()}
    return {**DUMP.__schema__, "definitions": definitions}


# The compiled check (app/schema_check.py) answers valid or not in about a tenth
# of jsonschema's time; jsonschema runs only on what it rejects, to name the fields.

# --- Naming the bad fields ---------------------------------------------------

def _top_level_schema() -> dict:
    """The dump schema without its item schemas: required keys, each an array."""
    schema = dump_json_schema()
    schema["properties"] = {key: {"type": "array"} for key in schema["properties"]}
    return schema


def _item_schema(model: Model) -> dict:
    return {**model.__schema__, "definitions": dump_json_schema()["definitions"]}


_DUMP_CHECK = compile_checker(dump_json_schema())
_TOP_LEVEL = Draft4Validator(_top_level_schema(), format_checker=FormatChecker())
_ITEM_CHECKS = {key: compile_checker(_item_schema(model)) for key, model in ITEM_MODELS.items()}
_ITEM_VALIDATORS = {
    key: Draft4Validator(_item_schema(model), format_checker=FormatChecker())
    for key, model in ITEM_MODELS.items()
}


def is_valid_dump(payload) -> bool:
    """The compiled check: fast, answers only yes or no."""
    return _DUMP_CHECK(payload)


def _listed(validator: Draft4Validator, value, prefix: tuple, errors: dict, limit: int) -> None:
    for error in validator.iter_errors(value):
        if len(errors) >= limit:
            return
        key, message = DUMP.format_error(error)  # the same "a.0.b" paths flask-restx gives
        path = ".".join(str(part) for part in (*prefix, key) if part != "")
        errors[path or "$"] = message


def schema_errors(payload, limit: int = 1000) -> dict[str, str]:
    """Every bad field as {json.path: reason}, at most `limit` of them.

    The top level is checked first; then jsonschema runs only on the items the
    compiled check rejects, so naming the fields of a large dump stays fast.
    """
    errors: dict[str, str] = {}
    _listed(_TOP_LEVEL, payload, (), errors, limit)
    if not isinstance(payload, dict):
        return errors
    for key in DUMP_KEYS:
        if not isinstance(payload.get(key), list):
            continue
        check = _ITEM_CHECKS[key]
        for index, item in enumerate(payload[key]):
            if not check(item):
                _listed(_ITEM_VALIDATORS[key], item, (key, index), errors, limit)
            if len(errors) >= limit:
                return errors
    return errors


def duplicate_ids(payload: dict, limit: int = 1000) -> dict[str, str]:
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
