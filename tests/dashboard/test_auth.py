"""With API_TOKENS configured the dashboard asks for one and keeps an HMAC of it in a cookie;
without, it is open. Every POST must come from a page of this host."""
from __future__ import annotations

import time

import pytest

from app import create_app
from app.dashboard import auth
from tests.dashboard.dashboard_fixtures import SAME_ORIGIN

TOKEN = "operator-token"


@pytest.fixture
def secured(settings, app, db):
    secured = create_app(settings | {"API_TOKENS": ["other-token", TOKEN]})
    app.extensions["celery"].set_default()
    return secured.test_client()


def sign_in(client, token=TOKEN, next_path="/dashboard/models"):
    return client.post("/dashboard/login", data={"token": token, "next": next_path}, headers=SAME_ORIGIN)


def test_without_tokens_the_dashboard_is_open(client, db):
    assert client.get("/dashboard").status_code == 200
    assert client.get("/dashboard/login").status_code == 302  # nothing to sign in to
    assert "Sign out" not in client.get("/dashboard").text


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/models", "/dashboard/jobs?limit=5"])
def test_with_tokens_every_page_sends_to_the_sign_in_form(secured, path):
    response = secured.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/dashboard/login?next=")
    assert secured.get(response.headers["Location"]).status_code == 200


def test_the_sign_in_form_and_static_files_need_no_token(secured):
    page = secured.get("/dashboard/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert secured.get("/dashboard/static/dashboard.css").status_code == 200


def test_a_valid_token_sets_a_strict_http_only_cookie_without_the_token(secured):
    response = sign_in(secured)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/models"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{auth.COOKIE}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    page = secured.get("/dashboard/models")
    assert page.status_code == 200 and "Sign out" in page.text


def test_the_cookie_is_secure_over_https(secured):
    response = secured.post("/dashboard/login", data={"token": TOKEN}, base_url="https://localhost",
                            headers={"Origin": "https://localhost"})
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(("token", "status", "reason"), [
    ("wrong", 401, "token: not a configured API token"),
    ("", 400, "token: enter an API token"),
])
def test_a_bad_token_is_refused_on_the_form(secured, token, status, reason):
    response = sign_in(secured, token)
    assert response.status_code == status and reason in response.text
    assert "Set-Cookie" not in response.headers
    assert secured.get("/dashboard").status_code == 302


def test_a_forged_or_expired_cookie_is_refused(secured, app):
    with app.test_request_context():
        stale = auth.sign_in_value(TOKEN, int(time.time()) - auth.SIGN_IN_HOURS * 3600 - 1)
        fresh = auth.sign_in_value(TOKEN, int(time.time()))
    tampered = fresh[:-1] + ("1" if fresh.endswith("0") else "0")  # always a different signature
    for value in (stale, tampered, "x.y", TOKEN):
        secured.set_cookie(auth.COOKIE, value, path="/dashboard")
        assert secured.get("/dashboard").status_code == 302, value
    secured.set_cookie(auth.COOKIE, fresh, path="/dashboard")
    assert secured.get("/dashboard").status_code == 200


def test_the_cookie_stops_working_once_its_token_is_removed(settings, app, db):
    first = create_app(settings | {"API_TOKENS": [TOKEN]}).test_client()
    app.extensions["celery"].set_default()
    sign_in(first)
    value = first.get_cookie(auth.COOKIE, path="/dashboard").value
    rotated = create_app(settings | {"API_TOKENS": ["a-new-token"]}).test_client()
    app.extensions["celery"].set_default()
    rotated.set_cookie(auth.COOKIE, value, path="/dashboard")
    assert rotated.get("/dashboard").status_code == 302


def test_posts_need_a_sign_in(secured):
    response = secured.post("/dashboard/models/65f000000000000000000000/activate", headers=SAME_ORIGIN)
    assert response.status_code == 401 and "not signed in" in response.text


@pytest.mark.parametrize("headers", [
    {}, {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Referer": "http://evil.example/dashboard"},
    {"Origin": "http://localhost.evil.example"},
])
def test_posts_from_another_origin_are_refused(secured, client, headers):
    sign_in(secured)
    for tested in (secured, client):  # with tokens, and open
        response = tested.post("/dashboard/models/65f000000000000000000000/activate", headers=headers)
        assert response.status_code == 403 and "Origin" in response.text


def test_a_referer_of_this_host_will_do(secured):
    sign_in(secured)
    response = secured.post("/dashboard/models/65f000000000000000000000/activate",
                            headers={"Referer": "http://localhost/dashboard/models"})
    assert response.status_code == 404  # past the checks: the version is unknown


def test_logout_clears_the_cookie(secured):
    sign_in(secured)
    response = secured.post("/dashboard/logout", headers=SAME_ORIGIN)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/login"
    assert secured.get("/dashboard").status_code == 302


def test_next_never_leaves_the_dashboard(secured):
    for target in ("https://evil.example/", "//evil.example/dashboard", "/swagger.json"):
        assert sign_in(secured, next_path=target).headers["Location"] == "/dashboard"
