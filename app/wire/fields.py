"""Field types of the wire format, shared by every request schema (the dump's,
the user actions', the recommendation requests'): ids that fit MongoDB's 64-bit
integers, nullable strings and ids, and UUIDs checked by the format checker."""
from __future__ import annotations

from flask_restx import fields

INT64_MAX = 2**63 - 1


class MarkedNullable:
    """Mixin: the field's schema says `x-nullable` (Swagger 2.0's way to allow null, which
    schemathesis and generated clients read)."""

    def schema(self):
        return {**super().schema(), "x-nullable": True}


class NullableString(MarkedNullable, fields.String):
    """A string that may also be null (the contract marks these fields "null")."""

    __schema_type__ = ["string", "null"]


class Uuid(fields.String):
    __schema_format__ = "uuid"
    __schema_example__ = "5642c351-80fe-44cf-b606-304f2f338122"


class NullableUuid(NullableString):
    __schema_format__ = "uuid"
    __schema_example__ = "202090a4-de4c-4230-acba-6e2931d9e37c"


class NullableInteger(MarkedNullable, fields.Integer):
    __schema_type__ = ["integer", "null"]


class NullableFloat(MarkedNullable, fields.Float):
    __schema_type__ = ["number", "null"]


class NullableDateTime(MarkedNullable, fields.DateTime):
    __schema_type__ = ["string", "null"]


class NullableRaw(MarkedNullable, fields.Raw):
    """Any JSON value, an object when present, or null."""


class NullableNested(MarkedNullable, fields.Nested):
    """A nested object that may also be null. Marked for the document only (`x-nullable`):
    the request validators strip a null before checking, so that their errors keep naming
    the field inside the object that is wrong (an `anyOf` would name only the object)."""


def nullable_id(description: str, **kwargs) -> NullableInteger:
    """An optional marketplace id: a JSON integer that fits MongoDB's 64 bits, or null."""
    return NullableInteger(min=0, max=INT64_MAX, description=description, **kwargs)
