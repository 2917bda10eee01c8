"""Every dashboard page renders from the real database, and forms answer bad input with a 400
naming the field. No token is configured here: the dashboard is open (auth: test_auth.py)."""
from __future__ import annotations

import re

import pytest

from app import model_registry as registry
from app.dashboard.pages import objective_lines
from app.storage.jobs import Job
from tests.dashboard.dashboard_fixtures import SAME_ORIGIN, dashboard_data

PAGES = ["/dashboard", "/dashboard/datasets", "/dashboard/jobs", "/dashboard/models", "/dashboard/traffic",
         "/dashboard/experiments"]
EXTERNAL = re.compile(r"""(?:src|href|action)=["'](?:https?:)?//""", re.I)


@pytest.fixture
def served(app, db):
    return dashboard_data(app)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_data_and_refers_to_nothing_outside(client, served, path):
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/html"
    page = response.text
    assert "<nav>" in page and ("<svg" in page or path.endswith(("/jobs", "/experiments")))
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_on_an_empty_database(client, db, path):
    response = client.get(path)
    assert response.status_code == 200, response.text


def test_the_overview_shows_health_the_default_engine_snapshot_and_jobs(client, served):
    page = client.get("/dashboard").text
    for dependency in ("database", "broker", "celery_worker", "engine-Popularity", "engine-NCF"):
        assert f'data-dependency="{dependency}"' in page
    assert "measured on the active snapshot" in page or "DEFAULT_RECOMMENDATION_ENGINE" in page
    assert "items in the active snapshot" in page
    assert "training.ncf" in page and "out of patience" in page


def test_the_datasets_page_lists_snapshots_with_counts_and_problems(client, app, served):
    page = client.get("/dashboard/datasets").text
    assert "{:,}".format(len(served["dump"]["services"])) in page
    assert "services, users and projects per snapshot" in page


def test_the_jobs_page_shows_state_step_and_progress(client, served):
    page = client.get("/dashboard/jobs").text
    assert page.count("<tr data-job=") == Job.objects.count()
    assert '<progress class="job-progress" max="100" value="40">' in page
    assert "jobs.js" in page


@pytest.mark.parametrize("limit", ["0", "x", "501"])
def test_a_bad_limit_is_a_400_naming_it(client, db, limit):
    response = client.get(f"/dashboard/jobs?limit={limit}")
    assert response.status_code == 400 and "<code>limit</code>" in response.text


def test_the_models_page_shows_versions_plots_and_which_serves(client, served):
    page = client.get("/dashboard/models").text
    assert f'<code class="serving">{served["active"]}</code>' in page
    assert f'/models/{served["active"]}/plots/popularity.png' in page
    assert page.count('class="activate"') >= 2  # the retired Popularity and Session versions
    assert "serves by default" in page or "no version active" in page


def test_activate_switches_the_serving_version(client, app, served):
    response = client.post(f"/dashboard/models/{served['retired']}/activate", headers=SAME_ORIGIN)
    assert response.status_code == 302 and "/dashboard/models" in response.headers["Location"]
    with app.app_context():
        assert str(registry.active_version("Popularity").id) == served["retired"]
        assert registry.get_version(served["active"]).status == "retired"
    assert f'<code class="serving">{served["retired"]}</code>' in client.get("/dashboard/models").text


@pytest.mark.parametrize("model_id", ["nope", "65f000000000000000000000"])
def test_activating_an_unknown_version_is_a_404_page(client, db, model_id):
    response = client.post(f"/dashboard/models/{model_id}/activate", headers=SAME_ORIGIN)
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "unknown model version" in response.text


def test_static_files_are_served(client, db):
    assert client.get("/dashboard/static/dashboard.css").status_code == 200
    assert client.get("/dashboard/static/jobs.js").status_code == 200


def test_an_ncf_versions_objectives_read_as_one_line_each():
    measured = {name: {"hr@10_full": value, "hr@10_sampled": 0.9} for name, value in
                (("NCF", 0.31), ("NCF order model", 0.12), ("Popularity", 0.2))}
    metrics = {"objectives": {"click": {"positives": 1200, "trained": True, **measured},
                              "cart": {"positives": 3, "trained": False, "reason": "3 positives, fewer than 500"}}}
    assert objective_lines(metrics) == [
        "click (hr@10_full, 1,200 positives): NCF 0.310 · NCF order model 0.120 · Popularity 0.200",
        "cart: served by the order model (3 positives, fewer than 500)"]
    assert objective_lines({"hr@10_full": 0.3}) == []  # other engines, and NCF versions before objectives
