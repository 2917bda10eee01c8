"""The factory, the error shape outside the API, and the things every response carries."""
import re


def test_unknown_route_is_a_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    body = response.get_json()
    assert body["message"] and body["errors"] == {"path": "no resource at /no/such/thing"}


def test_wrong_method_is_a_json_405(client):
    response = client.delete("/health")
    assert response.status_code == 405
    assert set(response.get_json()) == {"message", "errors"}
    assert "GET" in response.headers["Allow"]


def test_every_response_carries_a_request_id(client):
    response = client.get("/swagger.json", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert client.get("/swagger.json").headers["X-Request-ID"]


def test_swagger_document_lists_every_endpoint(client, app):
    spec = client.get("/swagger.json").get_json()
    documented = set(spec["paths"])
    routed = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint not in ("api.specs", "api.doc", "api.root")
    }
    assert routed and routed <= documented, routed - documented


def test_no_session_cookie_is_read_or_set(client, app):
    from flask import session
    from flask.sessions import NullSession

    client.set_cookie("session", "forged.value.here")
    response = client.get("/swagger.json")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    with app.test_request_context("/", headers={"Cookie": "session=forged.value.here"}):
        assert isinstance(session._get_current_object(), NullSession) and not session
