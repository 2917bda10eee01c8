"""Celery bound to the Flask app: every task runs inside `app.app_context()`."""
from __future__ import annotations

from celery import Celery, Task, signals
from celery.backends.redis import RedisBackend, SentinelBackend
from flask import Flask
from kombu import Exchange, Queue

from app import queues
from app.observability import metrics
from app.queues import DEFAULT_QUEUE, QUEUES, TRAINING_QUEUE
from app.redis_clients import is_redis, is_sentinel


class TaskLimits:
    """Task annotation from the settings: tasks named marketrec.training.* get the training
    time limits, and tasks that retry transient errors retry `max_retries` times."""

    def __init__(self, training_seconds: int, max_retries: int):
        self.training = {"time_limit": training_seconds, "soft_time_limit": max(1, training_seconds - 60)}
        self.max_retries = max_retries

    def annotate(self, task):
        limits = dict(self.training) if task.name.startswith(queues.TRAINING_PREFIX) else {}
        if getattr(task, "autoretry_for", ()):
            limits["max_retries"] = self.max_retries
        return limits or None

    def annotate_any(self):
        return None


class RedisResultsWithoutSubscribing(RedisBackend):
    """Celery's Redis result backend without the subscription it opens for every task it
    sends. That subscription serves `AsyncResult.get()`, which marketrec never calls (job
    states are read with GET): it only grew by a channel a job in the API process, and
    while Redis was down it failed the send after 5 s of retries with a RuntimeError
    asking to restart the application, so POST /update answered 500 instead of 503."""

    def on_task_call(self, producer, task_id):
        pass


class SentinelResultsWithoutSubscribing(SentinelBackend):
    """The same, for a result backend found through Redis Sentinels (app/redis_clients.py)."""

    def on_task_call(self, producer, task_id):
        pass


def result_backend(url: str) -> str:
    """Celery's result_backend setting: a Redis URL gets the backend above."""
    if not is_redis(url):
        return url
    backend = SentinelResultsWithoutSubscribing if is_sentinel(url) else RedisResultsWithoutSubscribing
    return f"{__name__}:{backend.__name__}+{url}"


# Only in Celery's own processes (worker.py): a task's state and result stored through a Redis
# failover or an outage of seconds wait and are sent again, instead of a task that ran being
# recorded as failed ("Exception raised outside body: ConnectionError"). Backoff from 0.1 s to 2 s
# a try, 20 tries: up to about 30 s. The API reads live progress and falls back to the job record
# at once (app/jobs.py), so it keeps Celery's default of not retrying.
WORKER_SETTINGS = {
    "result_backend_always_retry": True,
    "result_backend_base_sleep_between_retries_ms": 100,
    "result_backend_max_sleep_between_retries_ms": 2000,
    "result_backend_max_retries": 20,
}


def celery_settings(config) -> dict:
    """Celery's configuration, derived from the app settings."""
    training_limit = config["TRAINING_TIME_LIMIT_SECONDS"]
    broker = config["CELERY_BROKER_URL"]
    return {
        "broker_url": broker,
        # kombu's Redis transports, with a fix for closing after a lost connection (app/broker_transport.py).
        **({"broker_transport": f"app.broker_transport:{'SentinelTransport' if is_sentinel(broker) else 'Transport'}"}
           if is_redis(broker) else {}),
        "result_backend": config["CELERY_RESULT_BACKEND"],
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "result_extended": True,
        "result_expires": 7 * 24 * 3600,
        "task_track_started": True,
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        "task_default_queue": DEFAULT_QUEUE,
        "task_default_exchange": DEFAULT_QUEUE,
        "task_default_routing_key": DEFAULT_QUEUE,
        "task_routes": {queues.TRAINING_PREFIX + "*": {"queue": TRAINING_QUEUE, "routing_key": TRAINING_QUEUE}},
        "task_time_limit": config["TASK_TIME_LIMIT_SECONDS"],
        "task_annotations": [TaskLimits(training_limit, config["TASK_MAX_RETRIES"])],
        "task_soft_time_limit": max(1, config["TASK_TIME_LIMIT_SECONDS"] - 30),
        # With acks_late a message is redelivered after the visibility timeout if not
        # acked; it must outlast the longest task or training would run twice.
        # master_name: the master the Sentinels of a sentinel:// URL watch (unused by redis:// ones).
        "broker_transport_options": {"visibility_timeout": training_limit + 600,
                                     "master_name": config["REDIS_SENTINEL_MASTER"]},
        "result_backend_transport_options": {"retry_policy": {"timeout": 5.0},
                                             "master_name": config["REDIS_SENTINEL_MASTER"]},
        "broker_connection_retry_on_startup": True,
        # A worker waits out a broker outage of any length (Celery's default gives up after
        # 100 tries, and the worker exits).
        "broker_connection_max_retries": None,
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,  # keep the app's structured log lines
        "task_send_sent_event": True,
        "beat_schedule": {
            "prune-finished-jobs": {
                "task": queues.PRUNE_JOBS,
                "schedule": 6 * 3600.0,
            },
            # A restarted broker without persistence has forgotten its queues.
            "recover-lost-jobs": {
                "task": queues.RECOVER_JOBS,
                "schedule": float(config["RECOVER_JOBS_SECONDS"]),
            },
            # New events and actions reach Popularity and Session at this pace.
            "check-retraining": {
                "task": queues.CHECK_RETRAINING,
                "schedule": float(config["RETRAIN_CHECK_SECONDS"]),
            },
            # Experiment results and the traffic charts follow served panels at this pace.
            "fold-served-outcomes": {
                "task": queues.FOLD_SERVED_OUTCOMES,
                "schedule": float(config["SERVED_OUTCOMES_FOLD_SECONDS"]),
            },
            "refit-interaction-models": {
                "task": queues.TRAIN_INTERACTION_MODELS,
                "schedule": float(config["INTERACTION_MODELS_REFRESH_SECONDS"]),
                "kwargs": {"scheduled": True},
            },
        },
        "timezone": "UTC",
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object(celery_settings(app.config))
    # Where the results go: Celery reads CELERY_RESULT_BACKEND from the environment before its settings.
    celery.backend_cls = result_backend(celery.conf.result_backend)
    celery.set_default()
    app.extensions["celery"] = celery

    from app import job_signals, tasks  # noqa: F401  registers tasks and signal handlers

    job_signals.connect(app.config["JOB_HEARTBEAT_SECONDS"])
    port = app.config["WORKER_METRICS_PORT"]
    if port:
        signals.worker_init.connect(
            lambda **_: metrics.serve_worker_metrics(port), weak=False, dispatch_uid="marketrec.metrics"
        )
    return celery
