"""The Experiments page: start one through the form, see it with its variants, stop it; a bad
form comes back with a 400 naming the field."""
from __future__ import annotations

import pytest

from app import experiment_registry
from tests.dashboard.dashboard_fixtures import SAME_ORIGIN, store_results

FORM = {"name": "Session against Popularity", "page_id": "/services", "panel_id": "v1", "control": "0",
        "variants.0.name": "A", "variants.0.engine": "Popularity", "variants.0.share": "0.5",
        "variants.1.name": "B", "variants.1.engine": "Session", "variants.1.share": "0.5",
        "variants.2.name": "", "variants.2.engine": "NCF", "variants.2.share": ""}


def post(client, form):
    return client.post("/dashboard/experiments", data=form, headers=SAME_ORIGIN)


def test_an_experiment_is_started_listed_and_stopped(client, app, db):
    response = post(client, FORM)
    assert response.status_code == 302, response.text
    with app.app_context():
        (experiment,) = experiment_registry.list_experiments()
    assert experiment["scope"] == {"page_id": "/services", "panel_id": "v1"}
    assert [(v["name"], v["engine"], v["share"], v["control"]) for v in experiment["variants"]] == [
        ("A", "Popularity", 0.5, True), ("B", "Session", 0.5, False)]
    page = client.get("/dashboard/experiments").text
    assert f'data-experiment="{experiment["id"]}" data-status="running"' in page and "No results yet" in page
    assert client.post(f"/dashboard/experiments/{experiment['id']}/stop", headers=SAME_ORIGIN).status_code == 302
    page = client.get("/dashboard/experiments").text
    assert f'data-experiment="{experiment["id"]}" data-status="stopped"' in page


@pytest.mark.parametrize(("change", "field"), [
    ({"variants.1.share": "half"}, "variants.1.share"),
    ({"variants.1.share": "0.7"}, "variants"),
    ({"name": ""}, "name"),
    ({"panel_id": "v9"}, "scope.panel_id"),
    ({"variants.1.model_version": "65f000000000000000000000"}, "variants.1.model_version"),
])
def test_a_bad_form_is_a_400_naming_the_field_and_keeps_what_was_typed(client, db, change, field):
    response = post(client, FORM | change)
    assert response.status_code == 400, response.text
    assert f"<code>{field}</code>" in response.text
    assert 'value="Session against Popularity"' in response.text or change.get("name") == ""
    assert experiment_registry.list_experiments() == []


def test_an_overlapping_experiment_is_refused_with_409(client, db):
    post(client, FORM)
    response = post(client, FORM | {"name": "again"})
    assert response.status_code == 409 and "<code>scope</code>" in response.text


def test_stopping_an_unknown_experiment_is_a_404_page(client, db):
    response = client.post("/dashboard/experiments/nope/stop", headers=SAME_ORIGIN)
    assert response.status_code == 404 and "unknown experiment" in response.text


def test_results_are_drawn_with_the_verdict(client, db):
    post(client, FORM)
    experiment_id = store_results(experiment_registry.list_experiments()[0]["id"])
    page = client.get("/dashboard/experiments").text
    assert "B gets more visitors to click than A" in page
    assert "visitor_click_rate per variant, with its 95% interval" in page
    assert "difference from the control (A)" in page
    assert f'id="experiment-{experiment_id}"' in page


def test_a_shadow_shows_its_off_policy_estimate(client, db):
    with_shadow = {**FORM, "variants.2.name": "S", "variants.2.engine": "Random", "variants.2.shadow": "on"}
    assert post(client, with_shadow).status_code == 302
    experiment_id = store_results(experiment_registry.list_experiments()[0]["id"], shadow="S")
    page = client.get("/dashboard/experiments").text
    assert f'id="experiment-{experiment_id}"' in page
    assert "Had <strong>S</strong> been shown: about" in page and "weight check 1.00" in page
