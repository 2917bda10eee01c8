"""Structured logs: one JSON object a line, one line per request."""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request

# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter = JsonFormatter()
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_requests(app: Flask, on_response=None) -> None:
    """Log one line per request with its latency; `on_response(endpoint, status, seconds)`
    lets metrics reuse the same measurement."""
    log = logging.getLogger("marketrec.request")

    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex

    @app.after_request
    def _log(response):
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if log.isEnabledFor(logging.INFO):  # the line's fields cost more to gather than to skip
            _log_line(response, endpoint, seconds)
        if on_response:
            on_response(request.method, endpoint, response.status_code, seconds)
        return response

    def _log_line(response, endpoint: str, seconds: float) -> None:
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "endpoint": endpoint,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
                "request_id": g.get("request_id"),
            },
        )


class OutageWarning:
    """A warning about a dependency that fails on every request while it is down: said once
    per `every` seconds with the error and how many times it happened since, not a
    traceback a request (a Redis outage under traffic wrote one per request)."""

    def __init__(self, logger: logging.Logger, message: str, every: float = 60.0):
        self.logger, self.message, self.every = logger, message, every
        self.said_at = float("-inf")
        self.since = 0

    def __call__(self, exc: BaseException) -> None:
        self.since += 1
        now = time.monotonic()
        if now - self.said_at < self.every:
            return
        self.logger.warning("%s: %s: %s", self.message, type(exc).__name__, exc,
                            extra={"times_since_last_said": self.since})
        self.said_at, self.since = now, 0
