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
# A second client, for a writer that retries by itself with ids it chose (the served-recommendation
# log): without retryable writes, the server keeps no per-write record of them. SecantusDB spent
# about a fifth of its CPU per logged recommendation on that record.
UNRETRIED_ALIAS = "writes-not-retried"
_settings: dict = {}


def _connect() -> None:
    for alias, retry_writes in ((ALIAS, True), (UNRETRIED_ALIAS, False)):
        mongoengine.connect(
            host=_settings["uri"],
            alias=alias,
            connect=False,
            tz_aware=True,
            uuidRepresentation="standard",
            serverSelectionTimeoutMS=_settings["timeout_ms"],
            connectTimeoutMS=_settings["timeout_ms"],
            retryWrites=retry_writes,
        )


def _disconnect() -> None:
    for alias in (ALIAS, UNRETRIED_ALIAS):
        mongoengine.disconnect(alias)


def reconnect() -> None:
    """Build the clients again with the same settings: after a fork, or once pymongo event
    listeners were registered (they apply to clients created afterwards)."""
    if _settings:
        _disconnect()
        _connect()


def init_app(app: Flask) -> None:
    """Register the connection settings; nothing touches the network here."""
    new = {"uri": app.config["MONGODB_URI"], "timeout_ms": app.config["MONGODB_TIMEOUT_MS"]}
    if _settings and _settings != new:
        _disconnect()  # a second app with another database (tests)
    elif _settings:
        return
    _settings.update(new)
    _connect()


def database():
    """The pymongo Database of the configured URI."""
    return get_db(ALIAS)


def database_without_write_retries():
    """The same database through a client that never retries a write by itself: only for
    writers whose own retries are idempotent (documents carry their `_id`)."""
    return get_db(UNRETRIED_ALIAS)


os.register_at_fork(after_in_child=reconnect)
