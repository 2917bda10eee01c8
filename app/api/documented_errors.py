"""The error answers every operation can give, added to /swagger.json in one place rather
than on each operation, so that a client generated from the document knows them all
(schemathesis, run by tests/api/test_fuzzing.py, fails on any answer left out):

- 400 where there is a body or a query parameter to be wrong (the errors name it),
- 404 where the path names a resource,
- 413 and 415 where there is a body (too large; not application/json),
- 401 where the operation takes a bearer token,
- 503 everywhere: the database or the broker is unavailable (retry later).

Every one has the shape of app/api/errors.py: {"message": str, "errors": {field: reason}}.
"""
from __future__ import annotations

ERROR_MODEL = {
    "type": "object",
    "required": ["message", "errors"],
    "properties": {
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "what is wrong, by field (a path such as events.0.user_id, a header or $)"},
    },
}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def with_error_responses(spec: dict) -> dict:
    """`spec` (a Swagger 2.0 document) with the shared error responses on every operation."""
    spec.setdefault("definitions", {})["Error"] = ERROR_MODEL
    for path_item in spec.get("paths", {}).values():
        shared = path_item.get("parameters", [])
        for method, operation in path_item.items():
            if method in HTTP_METHODS:
                places = {parameter.get("in") for parameter in [*shared, *operation.get("parameters", [])]}
                _add_errors(operation, places)
    return spec


def _add_errors(operation: dict, places: set[str]) -> None:
    error = {"$ref": "#/definitions/Error"}
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400 and "schema" not in response:
            response["schema"] = error  # documented by the operation without its body
    shared = {}
    if places & {"body", "query"}:
        shared[400] = "not valid: every bad field or parameter is named"
    if "path" in places:
        shared[404] = "no resource at this path (an unknown id, or one of the wrong type)"
    if "body" in places:
        shared[413] = "the body is larger than the limit (MAX_REQUEST_BYTES, MAX_DUMP_BYTES for dumps)"
        shared[415] = "the body is not JSON: send Content-Type: application/json"
    if operation.get("security"):
        shared[401] = "a valid bearer token is required (API_TOKENS; RECOMMENDATION_TOKENS for reads once set)"
    shared[503] = "a dependency (the database or the broker) is unavailable: retry later"
    for status, description in shared.items():
        responses.setdefault(str(status), {"description": description, "schema": error})
    produces = operation.get("produces")
    if produces and "application/json" not in produces:
        operation["produces"] = [*produces, "application/json"]  # errors are JSON
