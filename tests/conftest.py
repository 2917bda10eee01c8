"""Real services for the suite: SecantusDB (or MONGODB_URI) and a Redis of its
own on free ports, and a real Celery worker process for integration tests."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from app import create_app
from devstack import services

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "log" / "tests"


@pytest.fixture(scope="session")
def mongo_uri():
    if os.environ.get("MONGODB_URI"):
        # A real MongoDB given by the caller: a database of our own on it.
        base = os.environ["MONGODB_URI"].rstrip("/").rsplit("/", 1)[0]
        yield f"{base}/marketrec_test_{uuid.uuid4().hex[:8]}"
        return
    LOGS.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    proc = services.start_mongo(port, ":memory:", LOGS / "mongo.log")
    yield f"mongodb://127.0.0.1:{port}/marketrec_test"
    services.stop(proc)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    LOGS.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    proc = services.start_redis(port, tmp_path_factory.mktemp("redis"), LOGS / "redis.log")
    yield f"redis://127.0.0.1:{port}/0"
    services.stop(proc)


@pytest.fixture(scope="session")
def settings(mongo_uri, redis_url, tmp_path_factory) -> dict:
    return {
        "WEIGHTS_CACHE_DIR": str(tmp_path_factory.mktemp("weights")),  # not the host's shared one
        "APP_ENV": "testing",
        "MONGODB_URI": mongo_uri,
        "MONGODB_TIMEOUT_MS": 3000,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "API_TOKENS": [],
        "RECOMMENDATION_TOKENS": [],
        "SENTRY_DSN": "",
        "LOG_LEVEL": "WARNING",
        "HEALTH_CACHE_SECONDS": 0.0,
    }


def settings_env(settings: dict) -> dict:
    """The same settings as environment variables, for processes the tests start."""
    env = dict(os.environ)
    for key, value in settings.items():
        env[key] = ",".join(value) if isinstance(value, list) else str(value)
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="session")
def app(settings):
    return create_app(settings)


def _suite_connection(app) -> None:
    # The connection is one per process, and the app a test built last owns it (tests/wire
    # builds one on no database): the suite's app takes it back (nothing when it holds it).
    from app.storage import init_app

    init_app(app)


@pytest.fixture
def client(app):
    _suite_connection(app)
    return app.test_client()


@pytest.fixture
def db(app):
    """The test database, emptied before the test."""
    from app.marketplace import recent_history
    from app.storage import database

    _suite_connection(app)
    with app.app_context():
        database_ = database()
        for name in database_.list_collection_names():
            database_[name].delete_many({})
        recent_history.forget_all()  # its copies of what was just deleted
        yield database_


@pytest.fixture(scope="session")
def worker(settings):
    """A real Celery worker process consuming both queues."""
    LOGS.mkdir(parents=True, exist_ok=True)
    name = f"test-{uuid.uuid4().hex[:6]}@%h"
    proc = services.spawn(
        [str(Path(sys.executable).parent / "celery"), "-A", "worker", "worker", "-Q", "default,training",
         "-n", name, "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        LOGS / "worker.log",
        env=settings_env(settings),
    )
    celery = create_app(settings).extensions["celery"]
    services.wait_until(
        lambda: bool(celery.control.inspect(timeout=1.0).ping()), 60, "celery worker", proc
    )
    yield proc
    services.stop(proc)


def start_gunicorn(settings: dict, log_name: str = "gunicorn.log"):
    """The API under gunicorn, as `make run` starts it, on a free port: (process, base URL).
    Its output is appended to var/log/tests/`log_name`."""
    LOGS.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    env = settings_env(settings) | {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}
    proc = services.spawn(
        [str(Path(sys.executable).parent / "gunicorn"), "app:create_app()", "-c", "gunicorn.conf.py"],
        LOGS / log_name,
        env=env,
    )
    services.wait_until(lambda: services.port_open("127.0.0.1", port), 30, "gunicorn", proc)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def live_server(settings):
    proc, url = start_gunicorn(settings)
    yield url
    services.stop(proc)


def pytest_sessionstart(session):
    os.chdir(ROOT)  # gunicorn.conf.py and worker.py are found from the project root
