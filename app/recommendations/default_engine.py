"""The engine that answers a request naming none: the one set by DEFAULT_RECOMMENDATION_ENGINE,
or, when it is "auto", the one that measured best on the active snapshot's data.

NCF training measures NCF, Popularity and Session on one held-out split and keeps the
verdict in the version's metrics ("default_engine"). The active NCF version's verdict
counts only when it was trained on the active snapshot: a model of another snapshot
(an older dump, another marketplace) has not been measured on this data, so it
answers neither by default nor as the fallback chain's choice for logged-in users:
the best of Popularity and Session answers, or, where nothing was measured on the
active snapshot, the chain picks by who is asking, until NCF is retrained. Computed where the serving
state is built (once per registry stamp), by /health and by /models; never per request.
"""
from __future__ import annotations

from flask import current_app

from app import model_registry
from app.storage.models import ENGINE_OF_MODEL, ModelVersion
from app.storage.snapshots import active_snapshot_id

AUTO = "auto"
BY_SITUATION = "Session for a visitor with events, else Popularity"
RECENT_VERSIONS_READ = 20  # verdicts of this many newest NCF versions of the snapshot are looked at


def default_engine() -> dict:
    """Who answers by default now: {"engine" (None: the chain fits who is asking), "reason",
    "source" ("setting" or "measured"), "ncf_on_active_snapshot", ...}."""
    configured = current_app.config["DEFAULT_RECOMMENDATION_ENGINE"]
    snapshot_id = active_snapshot_id()
    if configured != AUTO:
        return {"engine": configured, "source": "setting", "ncf_on_active_snapshot": _ncf_on(snapshot_id),
                "reason": f"DEFAULT_RECOMMENDATION_ENGINE is set to {configured}"}
    return {**measured_default(snapshot_id), "source": "measured"}


def _ncf_on(snapshot_id: str | None) -> bool:
    """Whether the active NCF version was trained on this snapshot (only then may it answer by situation)."""
    active = model_registry.active_version("NCF")
    return snapshot_id is not None and active is not None and active.dataset_id == snapshot_id


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
    """The engine that measured best on `snapshot_id`'s split, with the reason and the figures; engine
    None where nothing was measured there (the fallback chain then fits who is asking)."""
    found = {"snapshot_id": snapshot_id, "model_id": None, "scores": None, "ncf_on_active_snapshot": False}
    if snapshot_id is None:
        return {**found, "engine": None, "reason": "no dataset snapshot is active"}
    active = model_registry.active_version("NCF")
    if active is not None and active.dataset_id == snapshot_id:
        found["ncf_on_active_snapshot"] = True
        if verdict := verdict_of(active):
            return {**found, "engine": verdict["engine"], "reason": verdict["reason"], "model_id": str(active.id),
                    "scores": verdict.get("scores")}
        return {**found, "engine": None, "model_id": str(active.id),
                "reason": f"the active NCF version {active.id} has no measurement; {BY_SITUATION}"}
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
    return {**found, "engine": None, "reason": f"{why_not_ncf}; nothing is measured on this snapshot yet: "
                                               f"{BY_SITUATION}"}


def default_version_id(default: dict) -> str | None:
    """The active model version that serves the default engine, if it has one."""
    kind = ENGINE_OF_MODEL.get(default["engine"] or "")
    version = model_registry.active_version(kind) if kind else None
    return str(version.id) if version is not None else None


def marked_defaults(described: list[dict]) -> list[dict]:
    """Described versions (model_registry.describe), each saying whether it serves by default, and why."""
    default = default_engine()
    serving = default_version_id(default)
    return [{**version, "serves_by_default": version["id"] == serving,
             "default_reason": default["reason"] if version["id"] == serving else None} for version in described]
