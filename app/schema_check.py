"""A compiled check of a request model's JSON schema: valid or not, fast.

jsonschema walks every value through its keyword machinery: about 20 s on a dump
of 10k services, 100k users and 200k projects (benchmarks/ingest_dump.py), and
about a tenth of a recommendation request's CPU. `compile_checker` turns the
schema once into plain Python closures that only answer valid or not; jsonschema
then runs only on an invalid payload, to name its bad fields, so the schema and
the 400 stay flask-restx's own.

It knows the draft 4 keywords flask-restx models produce and refuses any other
(`UnsupportedSchema`), so a future field type cannot slip through unchecked.
Where it is unsure it is strict: it may reject a valid payload (the caller then
asks jsonschema, which accepts it), it must never accept an invalid one.
"""
from __future__ import annotations

from collections.abc import Callable

Check = Callable[[object], bool]

_IS_TYPE = {
    "string": lambda value: type(value) is str,
    "integer": lambda value: type(value) is int,  # JSON parsing gives int; bool is not int here
    "number": lambda value: type(value) in (int, float),
    "boolean": lambda value: type(value) is bool,
    "array": lambda value: type(value) is list,
    "object": lambda value: type(value) is dict,
    "null": lambda value: value is None,
}
_ANNOTATIONS = {"description", "title", "example", "default", "readOnly", "definitions"}
_HANDLED = {"type", "required", "properties", "items", "$ref", "allOf", "minimum", "maximum", "enum",
            "format", "minLength", "maxLength", "minItems", "maxItems"}


class UnsupportedSchema(ValueError):
    """The schema uses a keyword the compiled check does not implement."""


def compile_checker(schema: dict, format_checker=None) -> Check:
    """A function telling whether a value is valid against `schema` (a subset of draft 4).

    `format` is checked with `format_checker` (a jsonschema FormatChecker, the one the
    API validates with, so both agree on what a uuid or a date-time is); a schema with
    `format` and no checker is refused."""
    definitions = schema.get("definitions", {})
    compiled: dict = {}

    def by_ref(ref: str) -> Check:
        name = ref.removeprefix("#/definitions/")
        if name not in compiled:
            compiled[name] = None  # a definition that refers to itself gets the late lookup below
            compiled[name] = build(definitions[name])
        return compiled[name] or (lambda value: compiled[name](value))

    def build(node: dict) -> Check:
        unknown = {key for key in set(node) - _HANDLED - _ANNOTATIONS if not key.startswith("x-")}
        if unknown:
            raise UnsupportedSchema(f"keywords not supported by the compiled check: {sorted(unknown)}")
        if "format" in node and format_checker is None:
            raise UnsupportedSchema("`format` needs a format checker")
        if "$ref" in node:  # draft 4: siblings of $ref are ignored
            return by_ref(node["$ref"])
        checks = [check for check in (_node_check(node, build), _allowed_values(node),
                                      _format_check(node, format_checker)) if check is not None]
        checks += [build(sub) for sub in node.get("allOf", ())]
        return _all_of(checks)

    for name in definitions:
        by_ref(f"#/definitions/{name}")
    return build(schema)


def _type_check(declared) -> Check | None:
    if declared is None:
        return None
    if isinstance(declared, str):
        return _IS_TYPE[declared]
    checks = tuple(_IS_TYPE[name] for name in declared)
    return lambda value: any(check(value) for check in checks)


def _node_check(node: dict, build) -> Check | None:
    """Type and the keywords of each kind (each applies only to values of its kind); the
    common shapes get one specialised closure (speed)."""
    is_type = _type_check(node.get("type"))
    kinds = []
    if "items" in node or "minItems" in node or "maxItems" in node:
        kinds.append(_array_check(node, build))
    if "required" in node or "properties" in node:
        kinds.append(_object_check(node, build))
    if "minimum" in node or "maximum" in node:
        low, high = node.get("minimum", float("-inf")), node.get("maximum", float("inf"))
        if node.get("type") == "integer" and len(kinds) == 0:
            return lambda value: type(value) is int and low <= value <= high
        kinds.append(lambda value: type(value) not in (int, float) or low <= value <= high)
    if "minLength" in node or "maxLength" in node:
        shortest, longest = node.get("minLength", 0), node.get("maxLength", float("inf"))
        kinds.append(lambda value: type(value) is not str or shortest <= len(value) <= longest)
    if is_type is None:
        return _all_of(kinds) if kinds else None
    return _all_of([is_type, *kinds])


def _array_check(node: dict, build) -> Check:
    shortest, longest = node.get("minItems", 0), node.get("maxItems", float("inf"))
    items = node.get("items")
    if items is None:
        return lambda value: type(value) is not list or shortest <= len(value) <= longest
    bounds = _integer_bounds(items)
    if bounds is not None:  # ids: checked at C speed, without a call per item
        low, high = bounds

        def check_integers(value):
            if type(value) is not list:
                return True
            if not shortest <= len(value) <= longest:
                return False
            return not value or (set(map(type, value)) == {int} and low <= min(value) and max(value) <= high)

        return check_integers
    item = build(items)
    return lambda value: type(value) is not list or (shortest <= len(value) <= longest and all(map(item, value)))


def _integer_bounds(node: dict) -> tuple | None:
    """(low, high) when `node` says only "an integer between low and high"."""
    if node.get("type") != "integer" or set(node) - _ANNOTATIONS - {"type", "minimum", "maximum"}:
        return None
    return node.get("minimum", float("-inf")), node.get("maximum", float("inf"))


def _object_check(node: dict, build) -> Check:
    """One generated function per object schema: an object check runs once per item of a
    dump (tens of thousands), and a call per property was most of a dump's validation
    time. Properties of plain kinds (`_inline_check`) are tested inline; any other calls
    its compiled check. Keys and bounds reach the code as names, never as source text."""
    required = tuple(node.get("required", ()))
    namespace: dict = {"MISSING": _MISSING, "REQUIRED": frozenset(required)}
    lines = ["def check_object(value):",
             "    if type(value) is not dict:",
             "        return True"]
    if required:
        lines += ["    if not value.keys() >= REQUIRED:",
                  "        return False"]
    for number, (key, sub) in enumerate(node.get("properties", {}).items()):
        names = {"key": f"key_{number}", "check": f"check_{number}", "low": f"low_{number}",
                 "high": f"high_{number}", "shortest": f"shortest_{number}", "longest": f"longest_{number}"}
        namespace[names["key"]] = key
        test = _inline_check(sub, names, namespace)
        if test is None:
            namespace[names["check"]] = build(sub)
            test = f"{names['check']}(item)"
        if key in required:
            lines.append(f"    item = value[{names['key']}]")
            lines.append(f"    if not ({test}):")
        else:
            lines.append(f"    item = value.get({names['key']}, MISSING)")
            lines.append(f"    if item is not MISSING and not ({test}):")
        lines.append("        return False")
    lines.append("    return True")
    exec("\n".join(lines), namespace)  # noqa: S102 - our own source, from the schema's shape only
    return namespace["check_object"]


_MISSING = object()
_INLINE_TYPES = {
    "string": "type(item) is str", "integer": "type(item) is int", "boolean": "type(item) is bool",
    "number": "type(item) in (int, float)", "null": "item is None", "object": "type(item) is dict",
    "array": "type(item) is list",
}


def _inline_check(node: dict, names: dict, namespace: dict) -> str | None:
    """A Python expression testing `item` against `node`, for the kinds a request or a dump
    is made of: a typed scalar with its bounds, a nullable scalar, a list of integers in
    bounds or of strings. None for anything else (it keeps its compiled check)."""
    keywords = {key for key in node if key not in _ANNOTATIONS and not key.startswith("x-")}
    declared = node.get("type")
    if isinstance(declared, list):
        if keywords != {"type"} or not declared or any(name not in _INLINE_TYPES for name in declared):
            return None
        return "(" + " or ".join(_INLINE_TYPES[name] for name in declared) + ")"
    if declared not in _INLINE_TYPES:
        return None
    if declared == "integer" and keywords <= {"type", "minimum", "maximum"}:
        namespace[names["low"]] = node.get("minimum", float("-inf"))
        namespace[names["high"]] = node.get("maximum", float("inf"))
        return f"type(item) is int and {names['low']} <= item <= {names['high']}"
    if declared == "string" and keywords <= {"type", "minLength", "maxLength"}:
        if keywords == {"type"}:
            return "type(item) is str"
        namespace[names["shortest"]] = node.get("minLength", 0)
        namespace[names["longest"]] = node.get("maxLength", float("inf"))
        return f"type(item) is str and {names['shortest']} <= len(item) <= {names['longest']}"
    if declared == "array" and keywords == {"type", "items"}:
        items = node["items"]
        bounds = _integer_bounds(items)
        if bounds is not None:
            namespace[names["low"]], namespace[names["high"]] = bounds
            return (f"type(item) is list and (not item or (set(map(type, item)) == {{int}}"
                    f" and {names['low']} <= min(item) and max(item) <= {names['high']}))")
        if items.get("type") == "string" and set(items) - _ANNOTATIONS == {"type"}:
            return "type(item) is list and (not item or set(map(type, item)) == {str})"
        return None
    if keywords == {"type"}:
        return _INLINE_TYPES[declared]
    return None


def _allowed_values(node: dict) -> Check | None:
    if "enum" not in node:
        return None
    # JSON equality keeps true and 1 apart; Python's does not, so values are compared with their type.
    plain = (str, int, bool, type(None))
    if any(type(value) not in plain for value in node["enum"]):
        raise UnsupportedSchema("enum values other than strings, integers, booleans and null")
    allowed = frozenset((type(value), value) for value in node["enum"])

    def check_enum(value):
        return type(value) in plain and (type(value), value) in allowed

    return check_enum


def _format_check(node: dict, format_checker) -> Check | None:
    if "format" not in node:
        return None
    name = node["format"]
    return lambda value: format_checker.conforms(value, name)


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:  # the common case (a type and its kind's keywords), without a generator
        first, second = checks
        return lambda value: first(value) and second(value)
    return lambda value: all(check(value) for check in checks)


