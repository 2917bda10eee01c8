"""The engine that answers a request naming none: the one set by DEFAULT_RECOMMENDATION_ENGINE,
or, when it is "auto", the one that measured best on the active snapshot's data.

NCF training measures NCF, Popularity and Session on one held-out split and keeps the
verdict in the version's metrics ("default_engine"). The active NCF version's verdict
counts only when it was trained on the active snapshot: a model of another snapshot
(an older dump, another marketplace) has not been measured on this data, so the best
of Popularity and Session answers until NCF is retrained. Computed where the serving
state is built (once per registry stamp), by /health and by /models; never per request.
"""
from __future__ import annotations

from flask import current_app

from app import model_registry
from app.storage.models import ENGINE_OF_MODEL, ModelVersion
from app.storage.snapshots import active_snapshot_id

AUTO = "auto"
RECENT_VERSIONS_READ = 20  # verdicts of this many newest NCF versions of the snapshot are looked at


def default_engine() -> dict:
    """{"engine", "reason", "source" ("setting" or "measured"), ...}: who answers by default now."""
    configured = current_app.config["DEFAULT_RECOMMENDATION_ENGINE"]
    if configured != AUTO:
        return {"engine": configured, "source": "setting",
                "reason": f"DEFAULT_RECOMMENDATION_ENGINE is set to {configured}"}
    return {**measured_default(active_snapshot_id()), "source": "measured"}


def verdict_of(version: ModelVersion) -> dict | None:
    """The version's recorded verdict; for a version trained before Session was measured beside
    NCF, one from the figures it has: NCF against Popularity on the gate metric."""
    metrics = version.metrics or {}
    if metrics.get("default_engine"):
        return metrics["default_engine"]
    metric = "hr@10_sampled"  # the gate metric of app/training/gate.py when those versions were trained
    ncf, popularity = metrics.get(metric), ((metrics.get("baselines") or {}).get("Popularity") or {}).get(metric)
    if ncf is None or popularity is None:
        return None
    engine = "NCF" if ncf > popularity else "Popularity"
    return {"engine": engine, "metric": metric, "scores": {"NCF": ncf, "Popularity": popularity, "Session": None},
            "reason": f"NCF {ncf:.3f} {'beats' if engine == 'NCF' else 'does not beat'} Popularity "
                      f"{popularity:.3f} on {metric} (Session was not measured then)"}


def measured_default(snapshot_id: str | None) -> dict:
    """The engine that measured best on `snapshot_id`'s split, with the reason and the figures."""
    found = {"snapshot_id": snapshot_id, "model_id": None, "scores": None}
    if snapshot_id is None:
        return {**found, "engine": "Popularity", "reason": "no dataset snapshot is active"}
    active = model_registry.active_version("NCF")
    if active is not None and active.dataset_id == snapshot_id and (verdict := verdict_of(active)):
        return {**found, "engine": verdict["engine"], "reason": verdict["reason"], "model_id": str(active.id),
                "scores": verdict.get("scores")}
    why_not_ncf = ("no NCF version is active" if active is None else
                   f"the active NCF version {active.id} was trained on another snapshot ({active.dataset_id})")
    for version in ModelVersion.objects(engine="NCF", dataset_id=snapshot_id).order_by("-created_at").limit(
            RECENT_VERSIONS_READ):
        verdict = verdict_of(version)
        if verdict and verdict.get("scores"):
            scores = verdict["scores"]
            engine = "Session" if (scores.get("Session") or -1.0) > (scores.get("Popularity") or 0.0) else "Popularity"
            return {**found, "engine": engine, "model_id": str(version.id), "scores": scores,
                    "reason": f"{why_not_ncf}; of the others, {engine} measured best on this snapshot"}
    return {**found, "engine": "Popularity", "reason": f"{why_not_ncf}; nothing is measured on this snapshot yet"}


def default_version_id(default: dict) -> str | None:
    """The active model version that serves the default engine, if it has one."""
    kind = ENGINE_OF_MODEL.get(default["engine"])
    version = model_registry.active_version(kind) if kind else None
    return str(version.id) if version is not None else None


def marked_defaults(described: list[dict]) -> list[dict]:
    """Described versions (model_registry.describe), each saying whether it serves by default, and why."""
    default = default_engine()
    serving = default_version_id(default)
    return [{**version, "serves_by_default": version["id"] == serving,
             "default_reason": default["reason"] if version["id"] == serving else None} for version in described]
