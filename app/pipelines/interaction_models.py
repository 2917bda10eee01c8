"""Popularity and Session models, fitted from everything users did: stored user
actions and events, plus the dump's `accessed_services` (each user's services in
the order taken). Registered in the model registry and activated at once (they
have no validation metric to gate on)."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np
from flask import current_app

from app import model_registry
from app.engines import encode_types, fit_popularity, fit_session, seconds_since_epoch
from app.engines.catalogue import ServiceCategories
from app.marketplace.catalogue import stored_services
from app.marketplace.history import stored_since
from app.progress import Progress, no_progress
from app.recommendations.kept_interactions import KeptInteractions, ReadReport, joined
from app.storage.raw_dumps import raw_dump
from app.storage.snapshots import DatasetSnapshot, active_snapshot_id

# The dump's accessed services carry an order but no time: space them this far apart,
# ending at the snapshot's creation, so co-visitation sees them as one user's sequence.
ACCESS_SPACING_SECONDS = 3600.0
# Refitted every few minutes: keep a few old versions to roll back to, not all of them.
RETIRED_KEPT = 3


def collect_interactions(snapshot_id: str, full: bool = False) -> tuple[dict[str, np.ndarray], ReadReport]:
    """Arrays (keys, service_ids, types, timestamps) of every known interaction: the stored ones,
    extended since the last refit of this process unless `full`, then the dump's takings."""
    stored, report = _kept().read(snapshot_id, full=full)
    taken = dump_takings(snapshot_id)
    return joined(stored, taken), report


_kept_interactions: KeptInteractions | None = None


def _kept() -> KeptInteractions:
    global _kept_interactions
    if _kept_interactions is None:
        config = current_app.config
        _kept_interactions = KeptInteractions(config["INTERACTION_MODELS_LATE_SECONDS"],
                                              config["INTERACTION_MODELS_FULL_READ_SECONDS"])
    return _kept_interactions


# A snapshot never changes once stored, so what the refits read of it is read once per trainer
# process: on SecantusDB a read of a snapshot's 9,066 services held every write for 0.4 s,
# every refit (MovieLens latest-small replay). The users come from the raw dump (its GridFS
# chunks), not from the users collection: no index bounds a read of a snapshot's users in
# windows, and a million users in one read would hold every client for half a minute.
@lru_cache(maxsize=2)
def dump_takings(snapshot_id: str) -> dict[str, np.ndarray]:
    """The dump's `accessed_services` as orders, spaced ACCESS_SPACING_SECONDS apart and ending at
    the snapshot's creation, so co-visitation sees them as each user's sequence."""
    keys, services, stamps = [], [], []
    snapshot = DatasetSnapshot.objects.get(id=snapshot_id)
    created = seconds_since_epoch(snapshot.created_at.replace(tzinfo=snapshot.created_at.tzinfo or timezone.utc))
    for user in raw_dump(snapshot_id)["users"]:
        accessed = user.get("accessed_services") or []
        for position, service_id in enumerate(accessed):
            keys.append(f"user:{user['id']}")
            services.append(service_id)
            stamps.append(created - ACCESS_SPACING_SECONDS * (len(accessed) - position))
    arrays = {"keys": np.asarray(keys, dtype=object), "service_ids": np.asarray(services, dtype=np.int64),
              "types": encode_types(["order"] * len(keys)), "timestamps": np.asarray(stamps, dtype=np.float64)}
    for array in arrays.values():
        array.setflags(write=False)  # shared by every refit of the snapshot
    return arrays


@lru_cache(maxsize=2)
def service_categories(snapshot_id: str) -> ServiceCategories:
    services = stored_services(snapshot_id, {"_id": 0, "marketplace_id": 1, "categories": 1})
    return ServiceCategories.from_mapping({s["marketplace_id"]: s.get("categories") or [] for s in services})


def refit_not_due(latest, min_seconds: float) -> str | None:
    """Why a scheduled refit would repeat the last one (`latest`, the snapshot's newest Popularity
    version), or None when it is due. Beat queues a refit every few minutes on the one-at-a-time
    training queue; behind an NCF run they pile up and would then each read every interaction
    again, back to back, for the same models."""
    if latest is None or latest.stale:  # a user's data was deleted since: refit without it
        return None
    fitted = latest.created_at.replace(tzinfo=latest.created_at.tzinfo or timezone.utc)
    if (datetime.now(timezone.utc) - fitted).total_seconds() < min_seconds:
        return f"fitted on this snapshot less than {min_seconds:.0f} s ago"
    if not stored_since(fitted):
        return "no interaction arrived since the last fit"
    return None


def fit_interaction_models(snapshot_id: str | None = None, progress: Progress = no_progress, job_id: str | None = None,
                           scheduled: bool = False) -> dict:
    """Fit, register and activate Popularity and Session on the active snapshot.

    A `scheduled` refit (beat's) is skipped when it would repeat the last fit (`refit_not_due`),
    and reads only what arrived since the last one (app/recommendations/kept_interactions.py)
    unless a user's data was deleted since. Any other refit reads every interaction."""
    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        return {"status": "skipped", "reason": "no active dataset snapshot"}
    latest = model_registry.latest_version("Popularity", snapshot_id)
    if scheduled:
        reason = refit_not_due(latest, current_app.config["INTERACTION_MODELS_REFRESH_SECONDS"] / 2)
        if reason:
            return {"status": "skipped", "reason": reason, "snapshot_id": snapshot_id}
    progress("extract", 10)
    data, read = collect_interactions(snapshot_id, full=not scheduled or latest is None or latest.stale)
    if len(data["service_ids"]) == 0:
        return {"status": "skipped", "reason": "no interactions yet", "snapshot_id": snapshot_id}
    report = {"status": "done", "snapshot_id": snapshot_id, "interactions": int(len(data["service_ids"])),
              "read": read.as_dict()}
    fits = {
        "Popularity": lambda: fit_popularity(data["service_ids"], data["types"], data["timestamps"],
                                             categories=service_categories(snapshot_id)),
        "Session": lambda: fit_session(data["keys"], data["service_ids"], data["types"], data["timestamps"]),
    }
    for step, (engine, fit) in enumerate(fits.items()):
        progress(f"fit {engine}", 30 + 35 * step)
        began = time.perf_counter()
        model = fit()
        version = model_registry.register(
            engine, model.to_arrays(), model.params(), dataset_id=snapshot_id, job_id=job_id,
            training_seconds=time.perf_counter() - began,
            metrics={"interactions": report["interactions"]},
        )
        model_registry.activate(version)
        model_registry.prune_retired(engine, keep=RETIRED_KEPT)
        report[engine] = str(version.id)
    return report
