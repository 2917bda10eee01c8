"""Who may use the dashboard. With API_TOKENS configured, an operator signs in with one of
them and gets a cookie holding an HMAC of it (never the token): valid for SIGN_IN_HOURS
and while that token stays configured. Without tokens the dashboard is open, as the
API's writes are. Every POST must come from a page of this host (Origin or Referer)."""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, url_for

from app.dashboard.blueprint import bp, error_page

COOKIE = "marketrec_dashboard"
SIGN_IN_HOURS = 12
OPEN_ENDPOINTS = ("dashboard.login", "dashboard.static")
# The pages in the navigation bar: (view, label); a page shows once its view exists.
NAV_PAGES = (("overview", "Overview"), ("datasets", "Datasets"), ("jobs", "Jobs"), ("models", "Models"),
             ("traffic", "Traffic"), ("experiments", "Experiments"))


def _tokens() -> list[str]:
    return current_app.config["API_TOKENS"]


def sign_in_value(token: str, issued: int) -> str:
    """The cookie's value: when it was issued, and an HMAC-SHA256 keyed by the token."""
    digest = hmac.new(token.encode(), f"marketrec dashboard {issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{digest}"


def signed_in() -> bool:
    issued, _, digest = request.cookies.get(COOKIE, "").partition(".")
    if not issued.isdigit() or not 0 <= time.time() - int(issued) < SIGN_IN_HOURS * 3600:
        return False
    value = f"{issued}.{digest}".encode()
    return any(hmac.compare_digest(value, sign_in_value(token, int(issued)).encode()) for token in _tokens())


def same_origin() -> bool:
    """The request comes from a page of this host: its Origin, or failing that its Referer, names it."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return source != "null" and urlsplit(source).netloc == request.host


def _safe_next(target: str | None) -> str:
    # Only a dashboard path: never send a signed-in operator to another site.
    if target and (target == "/dashboard" or target.startswith(("/dashboard/", "/dashboard?"))):
        return target
    return url_for("dashboard.overview")


@bp.before_request
def guard():
    if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin():
        return error_page(403, "This form must be sent from a dashboard page of this host.",
                          {"Origin": "missing, or another host than this one"})
    if not _tokens() or request.endpoint in OPEN_ENDPOINTS or signed_in():
        return None
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    return error_page(401, "Sign in first.", {"token": "not signed in"})


@bp.context_processor
def _layout() -> dict:
    views = current_app.view_functions
    return {"nav_pages": [(view, label) for view, label in NAV_PAGES if f"dashboard.{view}" in views],
            "signing_in": bool(_tokens()) and signed_in(),
            "api_docs": request.script_root + ("/" if current_app.config["SWAGGER_UI"] else "/swagger.json")}


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = _safe_next(request.values.get("next"))
    if not _tokens():
        return redirect(target)
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    token = request.form.get("token", "").strip()
    if not token:
        return render_template("login.html", next=target, error="token: enter an API token"), 400
    if not any(hmac.compare_digest(token.encode(), known.encode()) for known in _tokens()):
        return render_template("login.html", next=target, error="token: not a configured API token"), 401
    response = redirect(target)
    response.set_cookie(COOKIE, sign_in_value(token, int(time.time())), max_age=SIGN_IN_HOURS * 3600,
                        path="/dashboard", httponly=True, samesite="Strict", secure=request.is_secure)
    return response


@bp.route("/logout", methods=["POST"])
def logout():
    response = redirect(url_for("dashboard.login"))
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="Strict", secure=request.is_secure)
    return response
