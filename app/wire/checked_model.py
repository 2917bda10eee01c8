"""The one check of a payload: a flask-restx model that answers a valid payload fast
and names every bad field of any other.

The compiled check (app/schema_check.py) tells valid or not in about a tenth of
jsonschema's time: jsonschema walks every value through its keyword machinery, which
was about 20 s on a dump of 300k items and a tenth of a recommendation request's CPU.
jsonschema then runs only on a payload the compiled check rejects, to name its bad
fields as flask-restx does (`{"source.visit_id": reason}`, "$" for the whole payload),
so the model Swagger shows is the schema that checks. Where the compiled check cannot
vouch for a payload (a keyword it does not implement, an integer written 3.0),
jsonschema decides.

Every entry point checks through it: flask-restx calls `validate` on the model an
operation expects (`@ns.expect(model)`); the API, ingestion and the CLI call `check`
or `errors` where a body is more than one model (an action or an array of them, a
dump checked item by item).
"""
from __future__ import annotations

from functools import cached_property

from flask_restx import Model, fields
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from app.errors import InvalidInput
from app.schema_check import Check, UnsupportedSchema, compile_checker

VALIDATION_FAILED = "Input payload validation failed"
# The API validates with a FormatChecker() too: both agree on what a uuid or a date-time is.
FORMATS = FormatChecker()


class InvalidPayload(InvalidInput):
    """A payload its schema refuses; `errors` names each bad field by its JSON path."""

    def __init__(self, errors: dict[str, str], message: str = VALIDATION_FAILED):
        super().__init__(message, errors)


class CheckedModel(Model):
    """A flask-restx model that checks payloads against its own schema.

    `draft` is the jsonschema validator class that names the errors; by default the
    one flask-restx picks for a model's schema (the latest draft, where 3.0 is an
    integer)."""

    def __init__(self, name, *args, draft=None, **kwargs):
        super().__init__(name, *args, **kwargs)
        self.draft = draft

    def __deepcopy__(self, memo):
        copied = super().__deepcopy__(memo)
        copied.draft = self.draft
        return copied

    def json_schema(self) -> dict:
        """The model's schema with every model it nests as definitions, as jsonschema reads it."""
        nested = nested_models(self)[1:]
        return {**self.__schema__, "definitions": {model.name: model.__schema__ for model in nested}}

    def quickly_valid(self, payload) -> bool:
        """True only for a valid payload, answered fast; False may still be valid (`errors` tells)."""
        return self._compiled(payload)

    def errors(self, payload, at: tuple = (), limit: int | None = None,
               into: dict[str, str] | None = None) -> dict[str, str]:
        """Every bad field of `payload` as {json.path: reason}, its paths under `at`, added
        to `into` until it holds `limit` of them. A valid payload adds none, without jsonschema."""
        errors = {} if into is None else into
        if self._compiled(payload):
            return errors
        for error in self._validator.iter_errors(payload):
            if limit is not None and len(errors) >= limit:
                break
            path, reason = self.format_error(error)  # flask-restx's "a.0.b" paths
            errors[".".join(str(part) for part in (*at, path) if part != "") or "$"] = reason
        return errors

    def errors_of_items(self, items: list, at: tuple = (), limit: int | None = None,
                        into: dict[str, str] | None = None) -> dict[str, str]:
        """`errors` of each item of `items`, its paths starting with the item's index."""
        errors = {} if into is None else into
        for index, item in enumerate(items):
            if limit is not None and len(errors) >= limit:
                break
            self.errors(item, (*at, index), limit, errors)
        return errors

    def check(self, payload) -> None:
        """Return quietly for a valid payload; raise InvalidPayload naming every bad field."""
        errors = self.errors(payload)
        if errors:
            raise InvalidPayload(errors)

    def validate(self, data, resolver=None, format_checker=None) -> None:
        """flask-restx's hook for `@ns.expect(model)`: the same check. Its resolver is not
        needed (the schema carries its definitions), nor its format checker (FORMATS)."""
        self.check(data)

    @cached_property
    def _compiled(self) -> Check:
        try:
            return compile_checker(self.json_schema(), FORMATS)
        except UnsupportedSchema:  # a keyword the compiled check lacks: jsonschema decides every time
            return lambda payload: False

    @cached_property
    def _validator(self):
        schema = self.json_schema()
        return (self.draft or validator_for(schema))(schema, format_checker=FORMATS)


def nested_models(model: Model) -> list[Model]:
    """`model`, then every model its fields nest at any depth, each once: what a namespace
    registers so that Swagger can show it, and the definitions of its schema."""
    found: dict[str, Model] = {}

    def visit(field) -> None:
        field = field() if isinstance(field, type) else field  # fields.List(fields.String) holds a class
        if isinstance(field, Model):
            if field.name not in found:
                found[field.name] = field
                for child in field.values():
                    visit(child)
        elif isinstance(field, fields.Nested):
            visit(field.nested)
        elif isinstance(field, fields.List):
            visit(field.container)

    visit(model)
    return list(found.values())


def register(namespace, model: Model) -> None:
    """Add `model` and every model it nests to a flask-restx namespace, so Swagger shows them."""
    for each in nested_models(model):
        namespace.add_model(each.name, each)
