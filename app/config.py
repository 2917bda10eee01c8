"""Every setting, read from the environment once, with development defaults.

`load_settings()` is the only place that reads `os.environ`; `create_app()` merges
its result with the mapping a caller passes (tests, notebooks), then
`check_settings()` refuses a production start without its secrets.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

from app.engines.registry import engine_names
from app.errors import ConfigurationError

ENVIRONMENTS = ("development", "testing", "production")
DEFAULT_ENGINE_CHOICES = ("auto", *engine_names())
# No SECRET_KEY: nothing here signs a cookie or a token (writes are checked against API_TOKENS).
PRODUCTION_SECRETS = ("API_TOKENS", "MONGODB_URI", "REDIS_URL")


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def load_settings(environ: Mapping[str, str] | None = None, dotenv: bool = True) -> dict:
    """Settings from `environ` (default: the process environment plus `.env`)."""
    if environ is None:
        if dotenv:
            # The .env of the working directory; real environment variables win over it.
            load_dotenv(find_dotenv(usecwd=True), override=False)
        environ = os.environ
    env = environ.get
    redis_url = env("REDIS_URL", "redis://127.0.0.1:6379/0")
    return {
        "APP_ENV": env("APP_ENV", "development"),
        # Explicitly set values are tracked so production can insist on them.
        "EXPLICIT_SETTINGS": sorted(k for k in PRODUCTION_SECRETS if env(k)),
        "MONGODB_URI": env("MONGODB_URI", "mongodb://127.0.0.1:27017/marketrec"),
        "MONGODB_TIMEOUT_MS": int(env("MONGODB_TIMEOUT_MS", "5000")),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": env("CELERY_BROKER_URL", redis_url),
        # The master that Redis Sentinels watch, for Redis URLs that name Sentinels
        # (sentinel://host:26379/0;sentinel://host2:26379/0, app/redis_clients.py).
        "REDIS_SENTINEL_MASTER": env("REDIS_SENTINEL_MASTER", "marketrec"),
        "CELERY_RESULT_BACKEND": env("CELERY_RESULT_BACKEND", redis_url),
        "API_TOKENS": _list(env("API_TOKENS")),
        "RECOMMENDATION_TOKENS": _list(env("RECOMMENDATION_TOKENS")),
        # "auto": the engine that measured best on the active snapshot (app/recommendations/default_engine.py).
        "DEFAULT_RECOMMENDATION_ENGINE": env("DEFAULT_RECOMMENDATION_ENGINE", "") or "auto",
        "MAX_REQUEST_BYTES": int(env("MAX_REQUEST_BYTES", str(1024 * 1024))),
        "MAX_DUMP_BYTES": int(env("MAX_DUMP_BYTES", str(512 * 1024 * 1024))),
        "DATASET_SNAPSHOTS_KEPT": int(env("DATASET_SNAPSHOTS_KEPT", "2")),  # with documents: active + previous
        # Where every process of this host keeps model weights as files it maps, shared instead of
        # copied (app/storage/weights_files.py); empty: each process decodes its own copy.
        "WEIGHTS_CACHE_DIR": env("WEIGHTS_CACHE_DIR", str(Path(tempfile.gettempdir()) / "marketrec-weights")),
        "WEIGHTS_CACHE_KEEP_SECONDS": int(env("WEIGHTS_CACHE_KEEP_SECONDS", str(7 * 24 * 3600))),
        "LOG_LEVEL": env("LOG_LEVEL", "INFO"),
        "LOG_FORMAT": env("LOG_FORMAT", "json"),
        "SENTRY_DSN": env("SENTRY_DSN", ""),
        "SENTRY_SAMPLE_RATE": float(env("SENTRY_SAMPLE_RATE", "1.0")),
        "SENTRY_TRACES_SAMPLE_RATE": float(env("SENTRY_TRACES_SAMPLE_RATE", "0.0")),
        "HEALTH_TIMEOUT_SECONDS": float(env("HEALTH_TIMEOUT_SECONDS", "1.0")),
        "HEALTH_CACHE_SECONDS": float(env("HEALTH_CACHE_SECONDS", "2.0")),
        "TASK_TIME_LIMIT_SECONDS": int(env("TASK_TIME_LIMIT_SECONDS", "600")),
        "TRAINING_TIME_LIMIT_SECONDS": int(env("TRAINING_TIME_LIMIT_SECONDS", "3600")),
        "TASK_MAX_RETRIES": int(env("TASK_MAX_RETRIES", "5")),
        "JOB_RETENTION_DAYS": int(env("JOB_RETENTION_DAYS", "30")),
        "RECOVER_JOBS_SECONDS": int(env("RECOVER_JOBS_SECONDS", "30")),
        "JOB_HEARTBEAT_SECONDS": float(env("JOB_HEARTBEAT_SECONDS", "15")),
        "INTERACTION_MODELS_REFRESH_SECONDS": int(env("INTERACTION_MODELS_REFRESH_SECONDS", "600")),
        # Scheduled refits read what arrived since the last one, and the last 15 minutes again
        # (by the marketplace's timestamps), for actions sent late; everything once a day.
        "INTERACTION_MODELS_LATE_SECONDS": int(env("INTERACTION_MODELS_LATE_SECONDS", "900")),
        "INTERACTION_MODELS_FULL_READ_SECONDS": int(env("INTERACTION_MODELS_FULL_READ_SECONDS", str(24 * 3600))),
        "TRAINING_MINIMUMS": {
            "users": int(env("TRAINING_MIN_USERS", "10")),
            "services": int(env("TRAINING_MIN_SERVICES", "10")),
            "interactions": int(env("TRAINING_MIN_INTERACTIONS", "50")),
        },
        "ACTIVATE_ONLY_IF_NOT_WORSE": _bool(env("ACTIVATE_ONLY_IF_NOT_WORSE"), True),
        "RL_SARS_SETTLE_SECONDS": int(env("RL_SARS_SETTLE_SECONDS", "3600")),
        "RL_EXPLORATION_EPSILON": float(env("RL_EXPLORATION_EPSILON", "0")),
        "NCF_SCORE_CACHE_MB": float(env("NCF_SCORE_CACHE_MB", "64")),
        # A catalogue of at least this many eligible services is narrowed to NCF_RETRIEVAL_POOL
        # by an inner-product index before NCF scores it (app/engines/ncf_retrieval.py); 0: never.
        "NCF_RETRIEVAL_MIN_CANDIDATES": int(env("NCF_RETRIEVAL_MIN_CANDIDATES", "20000")),
        "NCF_RETRIEVAL_POOL": int(env("NCF_RETRIEVAL_POOL", "1000")),
        "NCF_RETRIEVAL_INDEX": env("NCF_RETRIEVAL_INDEX", "flat"),
        "HISTORY_CACHE_REDIS_URL": env("HISTORY_CACHE_REDIS_URL", redis_url),
        "HISTORY_CACHE_TTL_SECONDS": int(env("HISTORY_CACHE_TTL_SECONDS", str(24 * 3600))),
        "RETRAIN_CHECK_SECONDS": int(env("RETRAIN_CHECK_SECONDS", "900")),
        "RETRAIN_AFTER_INTERACTIONS": int(env("RETRAIN_AFTER_INTERACTIONS", "10000")),
        "RETRAIN_AFTER_SECONDS": int(env("RETRAIN_AFTER_SECONDS", str(7 * 24 * 3600))),
        "WORKER_METRICS_PORT": int(env("WORKER_METRICS_PORT", "0")),
        "EXPERIMENT_ATTRIBUTION_SECONDS": int(env("EXPERIMENT_ATTRIBUTION_SECONDS", "1800")),
        "SERVED_OUTCOMES_FOLD_SECONDS": int(env("SERVED_OUTCOMES_FOLD_SECONDS", "60")),
        # `rotation` counts the showings to a person in the served log this far back.
        "ROTATION_WINDOW_SECONDS": int(env("ROTATION_WINDOW_SECONDS", str(7 * 24 * 3600))),
        "SWAGGER_UI": _bool(env("SWAGGER_UI"), True),
    }


def _check_retrieval(settings: Mapping) -> None:
    if settings["NCF_RETRIEVAL_MIN_CANDIDATES"] < 0:
        raise ConfigurationError("NCF_RETRIEVAL_MIN_CANDIDATES must not be negative, "
                                 f"not {settings['NCF_RETRIEVAL_MIN_CANDIDATES']}")
    if settings["NCF_RETRIEVAL_POOL"] < 1:
        raise ConfigurationError(f"NCF_RETRIEVAL_POOL must be at least 1, not {settings['NCF_RETRIEVAL_POOL']}")
    if settings["NCF_RETRIEVAL_INDEX"] not in ("flat", "hnsw"):
        raise ConfigurationError(f"NCF_RETRIEVAL_INDEX must be flat or hnsw, not {settings['NCF_RETRIEVAL_INDEX']!r}")


def check_settings(settings: Mapping) -> None:
    """Fail fast on settings that cannot work; production needs its secrets set."""
    if settings["APP_ENV"] not in ENVIRONMENTS:
        raise ConfigurationError(f"APP_ENV must be one of {ENVIRONMENTS}, not {settings['APP_ENV']!r}")
    if not 0.0 <= settings["RL_EXPLORATION_EPSILON"] <= 1.0:
        raise ConfigurationError(f"RL_EXPLORATION_EPSILON must be in [0, 1], not {settings['RL_EXPLORATION_EPSILON']}")
    if settings["DEFAULT_RECOMMENDATION_ENGINE"] not in DEFAULT_ENGINE_CHOICES:
        raise ConfigurationError(f"DEFAULT_RECOMMENDATION_ENGINE must be one of {', '.join(DEFAULT_ENGINE_CHOICES)}, "
                                 f"not {settings['DEFAULT_RECOMMENDATION_ENGINE']!r}")
    if settings["NCF_SCORE_CACHE_MB"] < 0:
        raise ConfigurationError(f"NCF_SCORE_CACHE_MB must not be negative, not {settings['NCF_SCORE_CACHE_MB']}")
    _check_retrieval(settings)
    if settings["APP_ENV"] != "production":
        return
    explicit = set(settings.get("EXPLICIT_SETTINGS", ()))
    missing = [name for name in PRODUCTION_SECRETS if name not in explicit or not settings.get(name)]
    if missing:
        raise ConfigurationError(f"production needs these settings: {', '.join(missing)}")
