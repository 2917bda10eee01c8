"""marketrec: a recommender service for marketplaces.

`create_app()` builds the one Flask application used by the API (gunicorn
"app:create_app()"), the Celery worker (worker.py), the CLI, tests and notebooks.
Imports stay inside it so that pure subpackages (app.engines) load without Flask.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping | None = None) -> Flask:
    """Build the application; `config` overrides settings read from the environment."""
    from flask import Flask

    from app import cli, observability, storage
    from app.api import NoSessions, init_api
    from app.celery_app import celery_init_app
    from app.config import check_settings, load_settings
    from app.dashboard import init_dashboard
    from app.recommendations import serving_state

    settings = load_settings()
    if config:
        settings.update(config)
        settings["EXPLICIT_SETTINGS"] = sorted(set(settings["EXPLICIT_SETTINGS"]) | set(config))
    check_settings(settings)

    app = Flask(__name__)
    app.config.from_mapping(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_REQUEST_BYTES"]
    app.config["SWAGGER_UI_DOC_EXPANSION"] = "list"  # operations visible without clicking
    app.session_interface = NoSessions()

    observability.init_app(app)
    storage.init_app(app)
    celery_init_app(app)
    serving_state.init_app(app)
    init_api(app)
    init_dashboard(app)
    cli.init_app(app)
    return app
