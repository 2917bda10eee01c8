"""Screenshots of every dashboard page for docs/dashboard.md (`make screenshots`).

Starts its own SecantusDB, Redis, the API under gunicorn and a worker, fills them as the
browser tests do (a served marketplace, model versions, jobs, an experiment with results),
then photographs each page in headless Chromium at 1280 px wide.

    .venv/bin/python -m tests.dashboard.screenshots [directory]   # default docs/screenshots
"""
from __future__ import annotations

import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from app import create_app
from devstack import services
from tests.conftest import LOGS, ROOT, settings_env, start_gunicorn
from tests.dashboard.browser import CHROMIUM, Watched, chromium
from tests.dashboard.dashboard_fixtures import dashboard_data, store_results

EXPERIMENT = {"name": "Session against Popularity", "scope": {"page_id": "/services", "panel_id": "v1"},
              "variants": [{"name": "A", "engine": "Popularity", "share": 0.5, "control": True},
                           {"name": "B", "engine": "Session", "share": 0.5}]}


def start_stack(stack: ExitStack, workdir: Path) -> tuple[dict, str]:
    LOGS.mkdir(parents=True, exist_ok=True)
    mongo_port, redis_port = services.free_port(), services.free_port()
    mongo = services.start_mongo(mongo_port, ":memory:", LOGS / "mongo-screenshots.log")
    stack.callback(services.stop, mongo)
    redis = services.start_redis(redis_port, workdir, LOGS / "redis-screenshots.log")
    stack.callback(services.stop, redis)
    broker = f"redis://127.0.0.1:{redis_port}/0"
    settings = {"APP_ENV": "testing", "MONGODB_URI": f"mongodb://127.0.0.1:{mongo_port}/marketrec_screenshots",
                "REDIS_URL": broker, "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker,
                "API_TOKENS": [], "RECOMMENDATION_TOKENS": [], "SENTRY_DSN": "", "LOG_LEVEL": "WARNING"}
    worker = services.spawn([str(Path(sys.executable).parent / "celery"), "-A", "worker", "worker",
                             "-Q", "default,training", "-n", f"screenshots-{uuid.uuid4().hex[:6]}@%h",
                             "--concurrency", "1", "--without-gossip", "--without-mingle"],
                            LOGS / "worker-screenshots.log", env=settings_env(settings))
    stack.callback(services.stop, worker)
    api, url = start_gunicorn(settings, "gunicorn-screenshots.log")
    stack.callback(services.stop, api)
    return settings, url


def fill(settings: dict) -> None:
    from app import experiment_registry

    app = create_app(settings)
    dashboard_data(app)
    with app.app_context():
        experiment = experiment_registry.create_experiment(EXPERIMENT)
        store_results(experiment["id"])


def take(url: str, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    taken = []
    with chromium(width=1280, height=800) as context:
        watched = Watched(context, url)
        watched.page.goto(f"{url}/dashboard", wait_until="networkidle")
        paths = watched.page.eval_on_selector_all("nav a[href^='/dashboard']", "links => links.map(a => a.pathname)")
        for path in paths:  # the pages in the navigation bar
            watched.page.goto(f"{url}{path}", wait_until="networkidle")
            target = directory / f"{path.rstrip('/').rsplit('/', 1)[-1].replace('dashboard', 'overview')}.png"
            watched.page.screenshot(path=str(target), full_page=True)
            taken.append(target)
    if watched.problems:
        raise SystemExit(f"the pages had problems: {watched.problems}")
    return taken


def main(directory: Path) -> None:
    if CHROMIUM is None:
        raise SystemExit("chromium is not installed: make browser")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
        settings, url = start_stack(stack, Path(workdir))
        fill(settings)
        time.sleep(2)  # the API notices the new snapshot and versions (it polls every second)
        for path in take(url, directory):
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
