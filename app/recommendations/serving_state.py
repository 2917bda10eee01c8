"""What one API process serves from: the active snapshot's catalogue index, its
users' declared features, and the engines of the active model versions, built
once and swapped whole.

Under gunicorn, a refresher (a background thread; a greenlet under the gevent
worker, which serves requests between its database round trips) compares a cheap
stamp (the active snapshot id and the registry's activation counter) with the one
the state was built from every second, and builds and swaps in a new state when
they differ. Requests only read `current()`: none checks the stamp or builds,
except the very first of a process that was not warmed, and one that comes while
the refresher builds a process's first snapshot (it has nothing to serve
meanwhile, so it waits for that build). Without a refresher (tests, the CLI,
notebooks), requests compare the stamp at most once a second and rebuild in the
background.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from flask import Flask, current_app
from pymongo.errors import ConnectionFailure

from app import model_registry
from app.engines import Engine, registry
from app.marketplace import serving_catalogue
from app.marketplace.catalogue import recommendable_services, stored_users
from app.observability.logs import OutageWarning
from app.offload import cpu_bound
from app.recommendations.catalogue_index import CatalogueIndex
from app.recommendations.default_engine import default_engine
from app.recommendations.experiment_arms import LiveExperiment, live_experiments, pinned_versions
from app.storage import database, weights_files
from app.storage.experiments import experiments_stamp
from app.storage.snapshots import active_snapshot_id

log = logging.getLogger(__name__)
_database_down = OutageWarning(log, "serving state refresh failed, the database does not answer; kept the last one")
STAMP_CHECK_SECONDS = 1.0

class DumpUsers:
    """The snapshot's users' categories, scientific domains and accessed services, in memory.

    Every logged-in request needs them; the MongoDB round trip this replaces took 0.7 to
    0.9 ms at the median (SecantusDB, 100k users, the request mix of benchmarks/serving.py).
    A snapshot's users never change once it is active. Each field is CSR-shaped:
    the values of the user in row r are `values[indptr[r]:indptr[r + 1]]`."""

    FIELDS = serving_catalogue.USER_FIELDS

    def __init__(self, users):
        """From user documents in any order, read once (100k of them stream through)."""
        self._index(serving_catalogue.user_columns(users, "marketplace_id"))

    @classmethod
    def from_columns(cls, columns: dict) -> DumpUsers:
        """From a serving catalogue's user columns (app/marketplace/serving_catalogue.py)."""
        users = cls([])
        users._index(columns)
        return users

    def _index(self, columns: dict) -> None:
        """Rows sorted by user id, each field in CSR form (serving_catalogue.user_columns' layout in)."""
        order = np.argsort(np.asarray(columns["ids"], dtype=np.int64), kind="stable")
        self.ids = np.asarray(columns["ids"], dtype=np.int64)[order]
        self.columns = {name: _reordered(np.asarray(columns[name]["lengths"], dtype=np.int64),
                                         np.asarray(columns[name]["values"], dtype=np.int64), order)
                        for name in self.FIELDS}

    @classmethod
    def of_snapshot(cls, snapshot_id: str | None) -> DumpUsers:
        if snapshot_id is None:
            return cls([])
        projection = {"marketplace_id": 1, **dict.fromkeys(cls.FIELDS, 1)}
        # In windows of about 500 users: a window is decoded in one go, and under gunicorn's
        # gevent worker the worker's requests wait meanwhile (10,000 users held them 0.2 s,
        # 1,000 5 ms); on SecantusDB a single read would also hold every other client.
        return cls(stored_users(snapshot_id, projection))

    def features(self, user_id: int | None) -> dict[str, list[int]]:
        """The user's non-empty fields as the dump has them (in order); {} for an unknown user."""
        if user_id is None or self.ids.size == 0:
            return {}
        row = int(np.searchsorted(self.ids, user_id))
        if row == self.ids.size or self.ids[row] != user_id:
            return {}
        found = {}
        for name, (indptr, values) in self.columns.items():
            if indptr[row + 1] > indptr[row]:
                found[name] = values[indptr[row]:indptr[row + 1]].tolist()
        return found


def _reordered(lengths: np.ndarray, values: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, values) of rows given by (n,) lengths and their concatenated values, in `order`."""
    starts = np.cumsum(lengths) - lengths  # of each row in `values`
    lengths = lengths[order]
    indptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    # Position k of the new values comes from its row's old start plus its offset in the row.
    take = np.arange(indptr[-1]) + np.repeat(starts[order] - indptr[:-1], lengths)
    return indptr, values[take]


@dataclass
class ServingState:
    stamp: tuple
    catalogue: CatalogueIndex
    category_names: dict[int, str]
    engines: dict[str, Engine]
    dump_users: DumpUsers = field(default_factory=lambda: DumpUsers([]))
    model_versions: dict[str, str] = field(default_factory=dict)  # engine name → version id
    # The engine answering requests that name none, and why (app/recommendations/default_engine.py).
    default: dict = field(default_factory=lambda: {"engine": None, "reason": "nothing is built yet",
                                                   "ncf_on_active_snapshot": False})
    experiments: tuple[LiveExperiment, ...] = ()  # the running ones (app/recommendations/experiment_arms.py)
    pinned: dict[str, dict[str, Engine]] = field(default_factory=dict)  # version id → engines of a version
    #                                                                   that a variant pins and that is not active

    @property
    def ready(self) -> set[str]:
        return {name for name, engine in self.engines.items() if engine.ready}

    def engines_of(self, model_version: str | None) -> dict[str, Engine]:
        """The engines serving with `model_version` pinned (None: the active versions')."""
        if model_version is None or model_version not in self.pinned:
            return self.engines
        return {**self.engines, **self.pinned[model_version]}

    def version_of(self, engine: str, model_version: str | None) -> str | None:
        """The model version `engine` serves from when `model_version` is pinned."""
        if model_version is not None and engine in self.pinned.get(model_version, {}):
            return model_version
        return self.model_versions.get(engine)


def current_stamp() -> tuple:
    return active_snapshot_id(), model_registry.registry_stamp(), experiments_stamp()


def _snapshot_parts(snapshot_id: str | None) -> tuple[CatalogueIndex, dict[int, str], DumpUsers]:
    """From the snapshot's serving catalogue (one file) when it has one, else from its collections."""
    raw = serving_catalogue.read_raw(snapshot_id) if snapshot_id else None
    if raw is not None:
        parts = cpu_bound(_parts_of_catalogue, raw, snapshot_id)  # decoding: 0.1 s of CPU for 9k services
        if parts is not None:
            return parts
    services = recommendable_services(snapshot_id) if snapshot_id else []
    catalogue = cpu_bound(CatalogueIndex.build, snapshot_id, services)  # 0.2 s of CPU for 10k services with content
    names = {}
    if snapshot_id:
        names = {c["marketplace_id"]: c.get("name") or "" for c in
                 database()["categories"].find({"snapshot_id": snapshot_id}, {"marketplace_id": 1, "name": 1})}
    return catalogue, names, DumpUsers.of_snapshot(snapshot_id)


def _parts_of_catalogue(raw: bytes, snapshot_id: str) -> tuple[CatalogueIndex, dict[int, str], DumpUsers] | None:
    catalogue = serving_catalogue.decode(raw, snapshot_id)
    if catalogue is None:
        return None
    return (CatalogueIndex.build(snapshot_id, catalogue["services"]), catalogue["categories"],
            DumpUsers.from_columns(catalogue["users"]))


def _built(kind: registry.ModelKind, version) -> dict[str, Engine]:
    """The engines of a version: its arrays (`serving_arrays`) and the engine set-up, which is
    CPU only (0.2 s for an NCF of 10k services and 100k users), so it runs off a gevent
    worker's event loop (app.offload)."""
    settings = current_app.config
    arrays = serving_arrays(version)
    return cpu_bound(lambda: registry.build_engines(kind.name, kind.load(arrays, version.params), settings))


def serving_arrays(version) -> dict[str, np.ndarray]:
    """A version's arrays, checked against its digest: mapped from the host's weights files, shared
    by every worker (app/storage/weights_files.py; GridFS is read when this host has no file for
    it yet), or, with WEIGHTS_CACHE_DIR empty, decoded into this process's own memory. Reads from
    the database stay on the event loop; hashing and decoding run off it."""
    directory = current_app.config["WEIGHTS_CACHE_DIR"]
    if not directory:
        blob = model_registry.weights_blob(version)
        return cpu_bound(model_registry.arrays_of, version, blob)
    arrays = cpu_bound(weights_files.cached_arrays, directory, version.weights_sha256)
    if arrays is None:
        blob = model_registry.weights_blob(version)
        arrays = cpu_bound(weights_files.stored_arrays, directory, version.weights_sha256, blob,
                           current_app.config["WEIGHTS_CACHE_KEEP_SECONDS"])
    return arrays


def build_state(stamp: tuple, previous: ServingState | None = None) -> ServingState:
    """The state for `stamp`, reusing what `previous` already built for the same snapshot
    and the same model versions (Popularity and Session are refitted every few minutes;
    the catalogue, the 100k users and NCF need not be rebuilt each time)."""
    snapshot_id = stamp[0]
    if previous is not None and previous.catalogue.snapshot_id == snapshot_id:
        catalogue, names, dump_users = previous.catalogue, previous.category_names, previous.dump_users
    else:
        catalogue, names, dump_users = _snapshot_parts(snapshot_id)
    engines: dict[str, Engine] = registry.build_engines(None, None, current_app.config)
    versions: dict[str, str] = {}
    for kind in registry.MODEL_KINDS:
        version = model_registry.active_version(kind.name)
        if version is None:
            continue
        reused = {name: previous.engines[name] for name, vid in (previous.model_versions if previous else {}).items()
                  if vid == str(version.id) and name in previous.engines}
        try:
            built = reused or _built(kind, version)
        except Exception:  # a broken version must not take serving down
            log.exception("could not load model version", extra={"model_version": str(version.id)})
            continue
        engines.update(built)
        versions.update({name: str(version.id) for name in built})
    engines.update(_catalogue_engines(catalogue, engines, versions))
    experiments = live_experiments()
    pinned = _pinned_engines(pinned_versions(experiments) - set(versions.values()), previous)
    return ServingState(stamp, catalogue, names, engines, dump_users, versions, default_engine(), experiments,
                        pinned)


def _catalogue_engines(catalogue: CatalogueIndex, engines: dict[str, Engine], versions: dict[str, str]
                       ) -> dict[str, Engine]:
    """The engines built from the snapshot's catalogue and the active Session model's neighbours (Similar).
    They serve from that Session version, and say so in the log (`versions` gains them)."""
    session = engines.get("Session")
    neighbours = session.model if session is not None and session.ready else None
    built = registry.build_engines(registry.CATALOGUE, registry.CatalogueInputs(catalogue.content, neighbours),
                                   current_app.config)
    if neighbours is not None and "Session" in versions:
        versions.update(dict.fromkeys(built, versions["Session"]))
    return built


def _pinned_engines(version_ids: set[str], previous: ServingState | None) -> dict[str, dict[str, Engine]]:
    """The engines of each version a running experiment pins and that is not active (a candidate,
    an older version), reusing the previous state's."""
    pinned = {}
    for version_id in sorted(version_ids):
        if previous is not None and version_id in previous.pinned:
            pinned[version_id] = previous.pinned[version_id]
            continue
        try:
            version = model_registry.get_version(version_id)
            kind = next(k for k in registry.MODEL_KINDS if k.name == version.engine)
            pinned[version_id] = _built(kind, version)
        except Exception:  # a pinned version that cannot load leaves its variant to the fallback chain
            log.exception("could not load a pinned model version", extra={"model_version": version_id})
    return pinned


class ServingStateHolder:
    """One per application: holds the current state and refreshes it in the background."""

    def __init__(self):
        self._state: ServingState | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._rebuilding = False
        self._refresher: threading.Thread | None = None
        self._refresher_building = threading.Lock()  # held while the refresher builds
        self._stop_refresher = threading.Event()

    def current(self) -> ServingState:
        state = self._state
        if state is None:
            with self._lock:
                if self._state is None:
                    self._state = build_state(current_stamp())
                    self._checked_at = time.monotonic()
            return self._state
        if self._refresher is not None:
            if state.catalogue.snapshot_id is None and self._refresher_building.locked():
                with self._refresher_building:  # the first snapshot is being built: nothing to serve meanwhile
                    pass
                return self._state
            return state
        if time.monotonic() - self._checked_at >= STAMP_CHECK_SECONDS:
            self._checked_at = time.monotonic()
            stamp = current_stamp()
            if stamp != state.stamp:
                if state.catalogue.snapshot_id is None and stamp[0] is not None:
                    return self._build_first_catalogue(stamp)
                self._rebuild_in_background(stamp)
        return state

    def _build_first_catalogue(self, stamp: tuple) -> ServingState:
        """The first snapshot a process sees: built on the request that notices it. The state it
        replaces has nothing to serve, so waiting once beats answering empty meanwhile."""
        with self._lock:
            if self._state.catalogue.snapshot_id is None:
                self._state = build_state(stamp, previous=self._state)
                log.info("serving state built for the first snapshot", extra={"snapshot_id": stamp[0]})
            return self._state

    def warm(self) -> None:
        """Build the state now (gunicorn calls this before a worker takes requests)."""
        began = time.perf_counter()
        state = self.current()
        log.info("serving state warmed", extra={"snapshot_id": state.catalogue.snapshot_id,
                                                "model_versions": state.model_versions,
                                                "build_ms": round(1000 * (time.perf_counter() - began), 1)})

    def rebuild_now(self) -> ServingState:
        """Build and swap synchronously (tests, CLI)."""
        self._state = build_state(current_stamp())
        self._checked_at = time.monotonic()
        return self._state

    def start_refresher(self, app: Flask, every: float = STAMP_CHECK_SECONDS) -> None:
        """Keep the state fresh from a background thread from now on (gunicorn starts it in
        each worker after warming), so that no request checks the stamp or builds."""
        if self._refresher is not None:
            return
        self._stop_refresher.clear()
        self._refresher = threading.Thread(target=self._refresh_forever, args=(app, every),
                                           name="serving-state-refresher", daemon=True)
        self._refresher.start()

    def stop_refresher(self) -> None:
        if self._refresher is not None:
            self._stop_refresher.set()
            self._refresher.join()
            self._refresher = None

    def _refresh_forever(self, app: Flask, every: float) -> None:
        while not self._stop_refresher.wait(every):
            try:
                with app.app_context():
                    self.refresh()
            except ConnectionFailure as exc:  # the database is down: keep serving what we have, try again
                _database_down(exc)
            except Exception:
                log.exception("serving state refresh failed; keeping the previous one")

    def refresh(self) -> ServingState:
        """Build and swap in the state of the current stamp if it differs from the one served."""
        stamp = current_stamp()
        state = self._state
        if state is not None and stamp == state.stamp:
            return state
        with self._refresher_building:
            began = time.perf_counter()
            self._state = build_state(stamp, previous=self._state)
            self._checked_at = time.monotonic()
        log.info("serving state swapped", extra={"snapshot_id": stamp[0], "registry_stamp": stamp[1],
                                                  "build_ms": round(1000 * (time.perf_counter() - began), 1)})
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
                    self._state = build_state(stamp, previous=self._state)
                log.info("serving state swapped", extra={"snapshot_id": stamp[0], "registry_stamp": stamp[1]})
            except Exception:
                log.exception("serving state rebuild failed; keeping the previous one")
            finally:
                self._rebuilding = False

        threading.Thread(target=rebuild, name="serving-state", daemon=True).start()


def _app_of_caller() -> Flask:
    return current_app._get_current_object()


def serving_state() -> ServingState:
    return current_app.extensions["serving_state"].current()


def init_app(app: Flask) -> None:
    app.extensions["serving_state"] = ServingStateHolder()
