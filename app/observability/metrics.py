"""Prometheus metrics. Under gunicorn (several processes) set
PROMETHEUS_MULTIPROC_DIR so /metrics adds up every process's counters."""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

HTTP_REQUESTS = Counter(
    "marketrec_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "marketrec_http_request_duration_seconds",
    "Time from request start to response, per endpoint",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TASKS_ENQUEUED = Counter("marketrec_tasks_enqueued_total", "Tasks sent to the broker", ["task"])
LOST_JOBS = Counter("marketrec_lost_jobs_total",
                    "Jobs whose broker message was lost: enqueued again or failed", ["task", "outcome"])
TASKS = Counter("marketrec_tasks_total", "Tasks finished by a worker, by final state", ["task", "state"])
TASK_DURATION = Histogram(
    "marketrec_task_duration_seconds",
    "Task run time in the worker",
    ["task"],
    buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0),
)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    """The exposition text of every metric of this process (or of all, in multiprocess mode)."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def serve_worker_metrics(port: int) -> None:
    """A worker on another host than the API exposes its own metrics on `port`.

    Prefork pool children count the tasks, so set PROMETHEUS_MULTIPROC_DIR too.
    """
    start_http_server(port, registry=_registry())
