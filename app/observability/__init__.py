"""Logs, metrics and error reporting."""
from __future__ import annotations

from flask import Flask

from app.observability import metrics
from app.observability.logs import configure_logging, log_requests
from app.observability.sentry import init_sentry


def _count(method: str, endpoint: str, status: int, seconds: float) -> None:
    metrics.HTTP_REQUESTS.labels(method=method, endpoint=endpoint, status=str(status)).inc()
    metrics.HTTP_LATENCY.labels(method=method, endpoint=endpoint).observe(seconds)


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    init_sentry(app.config)
    log_requests(app, on_response=_count)
