"""The operator dashboard at /dashboard: server-rendered pages over the same functions the
API calls, charts drawn on the server as SVG (charts.py), a little script only where a
page shows live progress. Nothing is loaded from outside the service: it works offline."""
from __future__ import annotations

from flask import Flask


def init_dashboard(app: Flask) -> None:
    from app.dashboard import auth, experiments, pages, traffic  # noqa: F401  (their views register on the blueprint)
    from app.dashboard.blueprint import bp

    app.register_blueprint(bp)
