"""Bearer tokens. Writes need a token from API_TOKENS once any is configured;
recommendation reads need one only when RECOMMENDATION_TOKENS is configured."""
from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import current_app, request

from app.errors import MarketrecError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Unauthorized(MarketrecError):
    status = 401
    headers = {"WWW-Authenticate": 'Bearer realm="marketrec"'}


def token_scope(scope: str | None) -> Callable:
    """Mark a handler's scope: "write", "recommend" (a POST that only reads) or None (open)."""

    def mark(handler):
        handler.token_scope = scope
        return handler

    return mark


def _scope_of_request() -> str | None:
    view = current_app.view_functions.get(request.endpoint)
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), None)
    default = "write" if request.method in WRITE_METHODS else None
    return getattr(handler, "token_scope", default)


def _accepted_tokens(scope: str) -> list[str]:
    config = current_app.config
    if scope == "recommend":
        if not config["RECOMMENDATION_TOKENS"]:
            return []
        return config["RECOMMENDATION_TOKENS"] + config["API_TOKENS"]
    return config["API_TOKENS"]


def require_token() -> None:
    """before_request hook of the API blueprint."""
    scope = _scope_of_request()
    accepted = _accepted_tokens(scope) if scope else []
    if not accepted:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required", {"Authorization": "missing bearer token"})
    if not any(hmac.compare_digest(token.strip().encode(), t.encode()) for t in accepted):
        raise Unauthorized("the bearer token is not valid", {"Authorization": "unknown token"})
