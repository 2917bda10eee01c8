"""The dashboard's blueprint: its security headers and its error pages (HTML, not the API's JSON)."""
from __future__ import annotations

import logging

from flask import Blueprint, render_template, request
from pymongo.errors import PyMongoError
from werkzeug.exceptions import HTTPException

from app.errors import MarketrecError

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static")

# Everything the pages load comes from this service; inline SVG is markup, not a resource.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@bp.after_request
def _headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # the Referer our POST check may read
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, message: str, errors: dict | None = None):
    return render_template("error.html", status=status, message=message, errors=errors or {}), status


@bp.errorhandler(MarketrecError)
def _domain_error(exc: MarketrecError):
    return error_page(exc.status, exc.message, exc.errors)


@bp.errorhandler(PyMongoError)
def _database_error(exc: PyMongoError):
    log.warning("dashboard: database unavailable: %s", exc)
    return error_page(503, "The database is unavailable; try again later.", {"database": str(exc)})


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return error_page(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("dashboard: unhandled error on %s %s", request.method, request.path)
    return error_page(500, "Internal error: the log has the details.")
