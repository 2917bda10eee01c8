"""With the database and the broker unreachable, the Overview shows them down instead of
failing, and the pages that need the database say so with a 503 page (no traceback)."""
from __future__ import annotations

import pytest

from app import create_app

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def cut_off(settings, app):
    broken = create_app(settings | {
        "MONGODB_URI": "mongodb://127.0.0.1:1/x", "MONGODB_TIMEOUT_MS": 300, "REDIS_URL": UNREACHABLE,
        "CELERY_BROKER_URL": UNREACHABLE, "CELERY_RESULT_BACKEND": UNREACHABLE, "HEALTH_TIMEOUT_SECONDS": 0.5})
    app.extensions["celery"].set_default()
    return broken.test_client()  # the client and db fixtures take the connection back afterwards


def test_the_overview_shows_the_dependencies_down(cut_off):
    response = cut_off.get("/dashboard")
    assert response.status_code == 200
    page = response.text
    for dependency in ("database", "broker", "celery_worker"):
        assert f'class="tile tile-down" data-dependency="{dependency}"' in page
    assert page.count("Unavailable: the database is down") == 2  # the snapshot and the jobs
    assert "Traceback" not in page


NEED_THE_DATABASE = ("datasets", "jobs", "models", "traffic", "experiments")


@pytest.mark.parametrize("path", [f"/dashboard/{page}" for page in NEED_THE_DATABASE])
def test_pages_that_need_the_database_answer_503(cut_off, path):
    response = cut_off.get(path)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "The database is unavailable" in response.text and "Traceback" not in response.text
