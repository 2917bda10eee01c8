"""What one API process serves from: the active snapshot's catalogue index and the
engines of the active model versions, built once and swapped whole.

Requests read `current()`; at most once a second it compares a cheap stamp (the
active snapshot id and the registry's activation counter) with the one it was
built from. When they differ, a background thread builds the new state and swaps
it in; requests keep using the old one meanwhile. Only the very first request of
a process (when nothing was warmed) builds synchronously.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from flask import Flask

from app import model_registry
from app.engines import (
    NCF,
    Engine,
    NCFModel,
    NCFRanking,
    Popularity,
    PopularityModel,
    Random,
    RandomRanking,
    Session,
    SessionModel,
)
from app.marketplace.catalog import recommendable_services
from app.recommendations.catalog_index import CatalogIndex
from app.storage import database
from app.storage.snapshots import active_snapshot_id

log = logging.getLogger(__name__)
STAMP_CHECK_SECONDS = 1.0

# Registry engine kind → builders of the serving engines it provides.
BUILDERS = {
    "Popularity": lambda arrays, params: {"Popularity": Popularity(PopularityModel.from_arrays(arrays, params))},
    "Session": lambda arrays, params: {"Session": Session(SessionModel.from_arrays(arrays, params))},
    "NCF": lambda arrays, params: _ncf_engines(NCFModel.from_arrays(arrays, params)),
}


def _ncf_engines(model: NCFModel) -> dict[str, Engine]:
    return {"NCF": NCF(model), "NCFRanking": NCFRanking(model)}


@dataclass
class ServingState:
    stamp: tuple
    catalog: CatalogIndex
    category_names: dict[int, str]
    engines: dict[str, Engine]
    model_versions: dict[str, str] = field(default_factory=dict)  # engine name → version id

    @property
    def ready(self) -> set[str]:
        return {name for name, engine in self.engines.items() if engine.ready}


def current_stamp() -> tuple:
    return active_snapshot_id(), model_registry.registry_stamp()


def build_state(stamp: tuple) -> ServingState:
    snapshot_id = stamp[0]
    catalog = CatalogIndex.build(snapshot_id, recommendable_services(snapshot_id) if snapshot_id else [])
    names = {}
    if snapshot_id:
        names = {c["marketplace_id"]: c.get("name") or "" for c in
                 database()["categories"].find({"snapshot_id": snapshot_id}, {"marketplace_id": 1, "name": 1})}
    engines: dict[str, Engine] = {"Random": Random(), "RandomRanking": RandomRanking()}
    versions: dict[str, str] = {}
    for kind, build in BUILDERS.items():
        version = model_registry.active_version(kind)
        if version is None:
            continue
        try:
            built = build(model_registry.load_arrays(version), version.params)
        except Exception:  # a broken version must not take serving down
            log.exception("could not load model version", extra={"model_version": str(version.id)})
            continue
        engines.update(built)
        versions.update({name: str(version.id) for name in built})
    return ServingState(stamp, catalog, names, engines, versions)


class ServingStateHolder:
    """One per application: holds the current state and refreshes it in the background."""

    def __init__(self):
        self._state: ServingState | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._rebuilding = False

    def current(self) -> ServingState:
        state = self._state
        if state is None:
            with self._lock:
                if self._state is None:
                    self._state = build_state(current_stamp())
                    self._checked_at = time.monotonic()
            return self._state
        if time.monotonic() - self._checked_at >= STAMP_CHECK_SECONDS:
            self._checked_at = time.monotonic()
            stamp = current_stamp()
            if stamp != state.stamp:
                self._rebuild_in_background(stamp)
        return state

    def warm(self) -> None:
        """Build the state now (gunicorn calls this before a worker takes requests)."""
        self.current()

    def rebuild_now(self) -> ServingState:
        """Build and swap synchronously (tests, CLI)."""
        self._state = build_state(current_stamp())
        self._checked_at = time.monotonic()
        return self._state

    def _rebuild_in_background(self, stamp: tuple) -> None:
        with self._lock:
            if self._rebuilding:
                return
            self._rebuilding = True
        app = _app_of_caller()

        def rebuild():
            try:
                with app.app_context():
                    self._state = build_state(stamp)
                log.info("serving state swapped", extra={"snapshot_id": stamp[0], "registry_stamp": stamp[1]})
            except Exception:
                log.exception("serving state rebuild failed; keeping the previous one")
            finally:
                self._rebuilding = False

        threading.Thread(target=rebuild, name="serving-state", daemon=True).start()


def _app_of_caller() -> Flask:
    from flask import current_app

    return current_app._get_current_object()


def serving_state() -> ServingState:
    from flask import current_app

    return current_app.extensions["serving_state"].current()


def init_app(app: Flask) -> None:
    app.extensions["serving_state"] = ServingStateHolder()
