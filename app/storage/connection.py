"""One lazy MongoDB connection per process.

PyMongo clients are not fork-safe: gunicorn and Celery's prefork pool fork after
the app is built, so the client is created with `connect=False` and rebuilt in
every child after a fork, before anything has used it.
"""
from __future__ import annotations

import os

import mongoengine
from flask import Flask
from mongoengine.connection import get_db

ALIAS = mongoengine.DEFAULT_CONNECTION_NAME
_settings: dict = {}


def _connect() -> None:
    mongoengine.connect(
        host=_settings["uri"],
        alias=ALIAS,
        connect=False,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=_settings["timeout_ms"],
        connectTimeoutMS=_settings["timeout_ms"],
    )


def _reconnect_after_fork() -> None:
    if _settings:
        mongoengine.disconnect(ALIAS)
        _connect()


def init_app(app: Flask) -> None:
    """Register the connection settings; nothing touches the network here."""
    new = {"uri": app.config["MONGODB_URI"], "timeout_ms": app.config["MONGODB_TIMEOUT_MS"]}
    if _settings and _settings != new:
        mongoengine.disconnect(ALIAS)  # a second app with another database (tests)
    elif _settings:
        return
    _settings.update(new)
    _connect()


def database():
    """The pymongo Database of the configured URI."""
    return get_db(ALIAS)


os.register_at_fork(after_in_child=_reconnect_after_fork)
