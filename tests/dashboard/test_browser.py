"""The dashboard in a real browser (Playwright driving Debian's chromium) against the API under
gunicorn with a worker: every page loads with no console error and no failed request, the
Activate button changes which version serves, and an experiment is started and stopped
through its form."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from app.storage.jobs import Job, utcnow
from tests.dashboard.browser import CHROMIUM, Watched, chromium
from tests.dashboard.dashboard_fixtures import dashboard_data

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser)")
PANEL_REQUEST = {"unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "timestamp": "2021-03-18T18:49:55.006Z",
                 "visit_id": None, "page_id": "/services", "panel_id": "v1", "search_data": {},
                 "engine_version": "Popularity"}


@pytest.fixture(scope="module")
def context():
    with chromium() as context:
        yield context


@pytest.fixture
def stack(app, db, live_server, worker):
    return live_server, dashboard_data(app)


def served_version(url: str) -> str | None:
    return requests.post(f"{url}/recommendations", json=PANEL_REQUEST, timeout=10).json()["model_version"]


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.3)
    return value


def test_every_page_loads_with_no_console_error_and_no_failed_request(context, stack):
    url, _ = stack
    watched = Watched(context, url)
    for name in ("overview", "datasets", "jobs", "models", "traffic", "experiments"):
        path = "/dashboard" if name == "overview" else f"/dashboard/{name}"
        response = watched.page.goto(f"{url}{path}", wait_until="networkidle")
        assert response.status == 200, name
        assert watched.page.locator("nav a[aria-current=page]").count() == 1, name
    watched.page.goto(f"{url}/dashboard/models", wait_until="networkidle")
    images = watched.page.locator("td.plots img")
    assert images.count() >= 1
    assert images.first.evaluate("image => image.naturalWidth") > 0  # the plot really decoded
    assert watched.problems == []


def test_the_activate_button_changes_which_version_serves(context, stack):
    url, served = stack
    assert wait_for(lambda: served_version(url) == served["active"])
    watched = Watched(context, url)
    watched.page.goto(f"{url}/dashboard/models", wait_until="networkidle")
    watched.page.locator(f'tr[data-version="{served["retired"]}"] button.activate').click()
    watched.page.wait_for_url("**/dashboard/models?activated=*")
    assert watched.page.locator("#engine-Popularity code.serving").inner_text() == served["retired"]
    versions = {v["id"]: v["status"] for v in requests.get(f"{url}/models?engine=Popularity", timeout=10).json()}
    assert versions[served["retired"]] == "active" and versions[served["active"]] == "retired"
    assert wait_for(lambda: served_version(url) == served["retired"])  # the API swaps engines within seconds
    assert watched.problems == []


def test_an_experiment_is_started_and_stopped_through_the_form(context, stack):
    url, _ = stack
    watched = Watched(context, url)
    page = watched.page
    page.goto(f"{url}/dashboard/experiments", wait_until="networkidle")
    page.fill("#name", "Session against Popularity")
    page.fill("#page_id", "/services")
    page.fill('input[name="variants.0.name"]', "A")
    page.select_option('select[name="variants.0.engine"]', "Popularity")
    page.fill('input[name="variants.0.share"]', "0.5")
    page.fill('input[name="variants.1.name"]', "B")
    page.select_option('select[name="variants.1.engine"]', "Session")
    page.fill('input[name="variants.1.share"]', "0.4")
    page.click("button.create")
    assert "variants" in page.locator(".form-errors").inner_text()  # shares sum to 0.9: refused, form kept
    assert page.input_value('input[name="variants.1.name"]') == "B"
    watched.problems = [p for p in watched.problems if "HTTP 400" not in p and "400 (BAD REQUEST)" not in p]
    page.fill('input[name="variants.1.share"]', "0.5")
    page.click("button.create")
    page.wait_for_url("**/dashboard/experiments#experiment-*")
    running = page.locator('section.experiment[data-status="running"]')
    assert running.count() == 1 and "Session against Popularity" in running.inner_text()
    listed = requests.get(f"{url}/experiments", timeout=10).json()
    assert [(e["name"], e["status"]) for e in listed] == [("Session against Popularity", "running")]
    page.click("button.stop")
    page.wait_for_url("**/dashboard/experiments#experiment-*")
    assert page.locator('section.experiment[data-status="stopped"]').count() == 1
    assert requests.get(f"{url}/experiments", timeout=10).json()[0]["status"] == "stopped"
    assert watched.problems == []


def test_a_running_job_updates_in_place(context, stack, app):
    url, _ = stack
    with app.app_context():
        job = Job(id=str(uuid.uuid4()), name="marketrec.training.ncf", state="STARTED", step="train",
                  percent=30).save(force_insert=True)
    watched = Watched(context, url)
    watched.page.goto(f"{url}/dashboard/jobs", wait_until="networkidle")
    row = watched.page.locator(f'tr[data-job="{job.id}"]')
    assert row.get_attribute("data-state") == "PENDING"  # live: the result backend knows no such task
    with app.app_context():
        job.update(state="SUCCESS", percent=100, result={"status": "done"}, finished_at=utcnow())
    watched.page.wait_for_selector(f'tr[data-job="{job.id}"][data-state="SUCCESS"]', timeout=10_000)
    assert row.locator("progress").evaluate("bar => bar.value") == 100
    assert row.locator(".job-outcome").inner_text() == "done"
    assert watched.problems == []
