"""Every error leaves the service in one shape: {"message": str, "errors": {path: reason}}."""
from __future__ import annotations

import logging

from flask import current_app, got_request_exception, jsonify, request
from flask_restx.mask import MaskError
from pymongo.errors import AutoReconnect
from werkzeug.exceptions import HTTPException

from app.errors import MarketrecError

log = logging.getLogger(__name__)

# What each status means for the client, when the exception says nothing more specific.
_DEFAULT_ERRORS = {
    400: lambda e: {"$": "the request is malformed"},
    404: lambda e: {"path": f"no resource at {request.path}"},
    405: lambda e: {"method": f"{request.method} is not allowed on {request.path}"},
    413: lambda e: {"$": f"the body is larger than {request.max_content_length} bytes"},
    415: lambda e: {"Content-Type": "expected application/json"},
}


def _normalise(errors: dict) -> dict:
    # jsonschema reports problems with the whole body under an empty path.
    return {(str(path) or "$"): str(reason) for path, reason in (errors or {}).items()}


def _http_body(exc: HTTPException) -> tuple[str, dict]:
    data = getattr(exc, "data", None) or {}
    message = data.get("message") or exc.description or exc.name
    errors = _normalise(data.get("errors"))
    if not errors and exc.code == 400 and "JSON" in (exc.description or ""):
        errors = {"$": exc.description}
    if not errors and exc.code in _DEFAULT_ERRORS:
        errors = _DEFAULT_ERRORS[exc.code](exc)
    return message, errors


def error_response(exc: Exception):
    """Turn any exception into the JSON error response the contract describes."""
    headers = {}
    if isinstance(exc, MarketrecError):
        status, message, errors = exc.status, exc.message, exc.errors
        headers.update(getattr(exc, "headers", {}))
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
        message, errors = _http_body(exc)
        allow = exc.get_response().headers.get("Allow")
        if allow:
            headers["Allow"] = allow
    elif isinstance(exc, MaskError):  # a malformed X-Fields header (flask-restx's response masks)
        header = current_app.config.get("RESTX_MASK_HEADER", "X-Fields")
        status, message, errors = 400, f"the {header} header is not a valid field mask", {header: str(exc)}
    elif isinstance(exc, AutoReconnect):
        status, message, errors = 503, "the database is unavailable, retry later", {"database": str(exc)}
        log.warning("database unavailable: %s", exc)
    else:
        got_request_exception.send(current_app._get_current_object(), exception=exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        status, message, errors = 500, "internal server error", {}
    response = jsonify({"message": message, "errors": errors})
    response.status_code = status
    response.headers.update(headers)
    return response
