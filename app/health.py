"""Health of the service: each dependency checked for real, in parallel, each with
a short timeout, and the whole report cached for a moment so probes stay cheap."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from flask import current_app

from app.queues import QUEUES
from app.recommendations.default_engine import default_engine
from app.redis_clients import redis_client
from app.storage import database
from app.storage.models import MODEL_ENGINES, active_engines

_pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="health")  # one per check
_cache_lock = threading.Lock()
_redis_clients: dict[str, redis.Redis] = {}


def _database(timeout: float) -> dict:
    database().command("ping", maxTimeMS=int(timeout * 1000))
    return {"status": "UP"}


def _broker(timeout: float) -> dict:
    url = current_app.config["CELERY_BROKER_URL"]
    client = _redis_clients.get(url)
    if client is None:
        client = redis_client(url, current_app.config["REDIS_SENTINEL_MASTER"], timeout)
        _redis_clients[url] = client
    client.ping()
    return {"status": "UP"}


def _covers_all_queues(replies: dict) -> bool:
    consumed = {queue["name"] for queues in replies.values() for queue in queues}
    return set(QUEUES) <= consumed


def _celery_workers(timeout: float) -> dict:
    """Ask every worker which queues it consumes; every queue needs a consumer.

    A broadcast cannot know how many workers will answer, so it waits the whole
    timeout; asking for as many replies as last time returns as soon as they came.
    """
    celery = current_app.extensions["celery"]
    expected = current_app.extensions.get("health_workers_seen") or None
    replies = celery.control.inspect(timeout=timeout, limit=expected).active_queues() or {}
    if expected and len(replies) >= expected and not _covers_all_queues(replies):
        replies = celery.control.inspect(timeout=timeout).active_queues() or {}  # more workers now?
    current_app.extensions["health_workers_seen"] = len(replies)
    consumers = {queue: 0 for queue in QUEUES}
    for queues in replies.values():
        for queue in queues:
            if queue["name"] in consumers:
                consumers[queue["name"]] += 1
    node = {"status": "UP", "workers": len(replies), "queues": consumers}
    idle = [queue for queue, count in consumers.items() if count == 0]
    if idle:
        node.update(status="DOWN", error=f"no worker consumes {', '.join(idle)}")
    return node


def _engines(timeout: float) -> dict:
    ready = active_engines()
    return {
        name: {"status": "UP"} if name in ready else {"status": "NOT_READY", "error": "no active model version"}
        for name in MODEL_ENGINES
    }


def _default_engine(timeout: float) -> dict:
    """Which engine answers a request naming none, and why (not a dependency: never DOWN the service)."""
    return {"status": "UP", **default_engine()}


def _run(checks: dict[str, Callable[[float], dict]], timeout: float) -> dict:
    app = current_app._get_current_object()

    def in_context(check):
        with app.app_context():
            return check(timeout)

    futures = {name: _pool.submit(in_context, check) for name, check in checks.items()}
    deadline = time.monotonic() + timeout + 0.5
    report = {}
    for name, future in futures.items():
        try:
            report[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            report[name] = {"status": "DOWN", "error": f"no answer within {timeout:g} s"}
        except Exception as exc:  # a failing dependency is a DOWN node, not a 500
            report[name] = {"status": "DOWN", "error": f"{type(exc).__name__}: {exc}"}
    return report


def check() -> dict:
    """The health tree; DOWN when the database, the broker or the workers are."""
    config = current_app.config
    cache = current_app.extensions.setdefault("health_cache", {"at": 0.0, "report": None})
    with _cache_lock:
        if cache["report"] and time.monotonic() - cache["at"] < config["HEALTH_CACHE_SECONDS"]:
            return cache["report"]
    timeout = config["HEALTH_TIMEOUT_SECONDS"]
    report = _run(
        {"database": _database, "broker": _broker, "celery_worker": _celery_workers, "engines": _engines,
         "default_engine": _default_engine},
        timeout,
    )
    if report["engines"].get("status") == "DOWN":  # the registry could not be read
        report["engines"] = {name: dict(report["engines"]) for name in MODEL_ENGINES}
    vital = ("database", "broker", "celery_worker")
    report = {"status": "UP" if all(report[n]["status"] == "UP" for n in vital) else "DOWN", **report}
    with _cache_lock:
        cache.update(at=time.monotonic(), report=report)
    return report
