"""The dashboard's pages on the service's state: health, dataset snapshots, jobs, model versions.
Each reads through the same functions as the API's handlers."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import redirect, render_template, request, url_for
from markupsafe import Markup
from pymongo.errors import PyMongoError

from app import health
from app import model_registry as registry
from app.dashboard import charts
from app.dashboard.blueprint import bp
from app.errors import InvalidInput
from app.jobs import recent_jobs
from app.marketplace import catalogue
from app.recommendations.default_engine import marked_defaults
from app.rl.judging import GATE_METRIC as RL_GATE_METRIC
from app.storage.models import MODEL_KINDS
from app.storage.snapshots import active_snapshot_id
from app.training.gate import GATE_METRIC as NCF_GATE_METRIC

# The figure each model kind's versions are compared on, drawn version after version.
HEADLINE_METRIC = {"NCF": NCF_GATE_METRIC, "RL": RL_GATE_METRIC, "Popularity": "interactions",
                   "Session": "interactions"}
COUNTED = ("services", "users", "projects")  # the dump keys drawn snapshot after snapshot


@dataclass
class Section:
    """Part of a page read from the database: its value, or why it could not be read."""

    value: Any = None
    error: str | None = None


def section(read: Callable[[], Any], database_up: bool = True) -> Section:
    if not database_up:
        return Section(error="the database is down")
    try:
        return Section(read())
    except PyMongoError as exc:  # a dependency down is shown as down, not a 500
        return Section(error=f"the database did not answer: {type(exc).__name__}")


def svg(markup: str) -> Markup:
    return Markup(markup)  # charts.py escapes every text it draws


def counts_chart(snapshot: dict | None, title: str) -> Markup:
    counts = (snapshot or {}).get("counts") or {}
    return svg(charts.bar_chart([(key, value) for key, value in counts.items() if value], title=title))


def active_snapshot() -> dict | None:
    active = active_snapshot_id()
    return catalogue.describe_snapshot(active) if active else None


def limit_argument(default: int, most: int) -> int:
    text = request.args.get("limit", str(default))
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise InvalidInput(f"limit must be a whole number from 1 to {most}", {"limit": f"{text!r} is not 1 to {most}"})
    return int(text)


@bp.route("/")
@bp.route("")  # the first applied: url_for gives /dashboard
def overview():
    report = health.check()
    database_up = report["database"]["status"] == "UP"
    snapshot = section(active_snapshot, database_up)
    return render_template("overview.html", page="overview", health=report, snapshot=snapshot,
                           jobs=section(lambda: recent_jobs(8), database_up),
                           counts=counts_chart(snapshot.value, "items in the active snapshot"))


@bp.route("/datasets")
def datasets():
    listed = catalogue.list_snapshots(limit=50)
    snapshots = listed["datasets"]
    active = next((s for s in snapshots if s["active"]), None)
    problems = catalogue.describe_snapshot(active["id"])["problems"] if active else {}
    over_time = {key: [(s["created_at"], (s["counts"] or {}).get(key)) for s in snapshots if s["created_at"]]
                 for key in COUNTED}
    return render_template("datasets.html", page="datasets", snapshots=snapshots, active=active, problems=problems,
                           counts=counts_chart(active, "items in the active snapshot"),
                           trend=svg(charts.line_chart(over_time, title="services, users and projects per snapshot",
                                                       y_format="{:,.0f}")))


@bp.route("/jobs")
def jobs():
    return render_template("jobs.html", page="jobs", jobs=recent_jobs(limit_argument(50, 500)))


def headline(versions: list[dict], engine: str) -> Markup:
    metric = HEADLINE_METRIC.get(engine)
    points = [(v["created_at"], v["metrics"].get(metric)) for v in versions
              if isinstance(v["metrics"].get(metric), int | float)]
    return svg(charts.line_chart({metric or "": points}, title=f"{engine}: {metric} of each version", y_min=None,
                                 height=200, empty=f"no version has {metric}"))


def scalar_metrics(metrics: dict) -> dict:
    """The metrics that are one number, rounded for reading."""
    return {name: round(value, 4) if isinstance(value, float) else value for name, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)}


def objective_lines(metrics: dict) -> list[str]:
    """One line per objective of an NCF version: the full-catalogue hit rate of its own side, the
    order model's and its popularity on each user's latest positive of it, or why it has no side."""
    lines = []
    for objective, measured in (metrics.get("objectives") or {}).items():
        if not measured.get("trained"):
            lines.append(f"{objective}: served by the order model ({measured.get('reason')})")
            continue
        hit_rate = next((key for key in measured["NCF"] if key.startswith("hr@") and key.endswith("_full")), None)
        figures = " · ".join(f"{name} {measured[name][hit_rate]:.3f}" for name in ("NCF", "NCF order model",
                                                                                  "Popularity"))
        lines.append(f"{objective} ({hit_rate}, {measured['positives']:,} positives): {figures}")
    return lines


@bp.route("/models")
def models():
    described = marked_defaults([registry.describe(v) for v in registry.list_versions(limit=100)])
    engines = []
    for engine in MODEL_KINDS:
        versions = [v for v in described if v["engine"] == engine]
        for version in versions:
            version["scalars"] = scalar_metrics(version["metrics"])
            version["objective_lines"] = objective_lines(version["metrics"])
            version["gate_reason"] = (version["metrics"].get("gate") or {}).get("reason")
        engines.append({"name": engine, "versions": versions, "chart": headline(versions, engine),
                        "active": next((v for v in versions if v["status"] == "active"), None)})
    return render_template("models.html", page="models", engines=engines)


@bp.route("/models/<model_id>/activate", methods=["POST"])
def activate(model_id: str):
    version = registry.activate(registry.get_version(model_id))
    return redirect(url_for("dashboard.models", activated=str(version.id)) + f"#engine-{version.engine}")
