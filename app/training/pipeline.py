"""The NCF training pipeline, as one Celery job runs it: extract → validate data →
prepare → train → evaluate (with baselines) → validate model → register → activate.

Each step's time and details are kept in the version's metrics; the job reports
step, percent, epoch and loss while it runs. A version is registered only when
complete and activated only when it is not worse than the active one, so a
killed worker never leaves a half-written version active.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict

from flask import current_app

from app import model_registry
from app.errors import InvalidInput
from app.marketplace.dumps import raw_dump
from app.storage.models import ModelVersion
from app.storage.snapshots import active_snapshot_id
from app.training.baselines import fit_ease, fit_popularity_baseline
from app.training.dataset import interaction_data_from_dump
from app.training.evaluation import leave_last_out, ranking_metrics
from app.training.ncf_pipeline import NCFTrainingConfig, train_ncf
from app.training.plots import metrics_chart, training_curves

GATE_METRIC = "hr@10_sampled"
# Share of the overall percent each step accounts for (training dominates).
STEP_SPANS = {"extract": (0, 5), "prepare": (5, 8), "validate data": (8, 10), "train": (10, 85),
              "evaluate baselines": (85, 93), "register": (93, 96), "validate model": (96, 100)}
EASE_MAX_SERVICES = 5000  # EASE inverts a services × services matrix


class DataRejected(InvalidInput):
    """The snapshot cannot train a useful model (too few users, services or interactions)."""


def config_digest(config) -> str:
    """A short digest of a training config dataclass: runs are idempotent per (snapshot, digest)."""
    return hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:16]


def plan_run(engine: str, snapshot_id: str | None, config) -> tuple[str, str, dict | None]:
    """The snapshot a run trains on (the active one by default), its config digest, and
    the outcome of a finished run of the same pair, if any (then nothing is trained)."""
    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        raise DataRejected("no active dataset snapshot to train on", {"snapshot_id": "none is active"})
    digest = config_digest(config)
    done = ModelVersion.objects(engine=engine, dataset_id=snapshot_id, config__digest=digest,
                                status__in=("candidate", "active", "retired")).first()
    existing = {"status": "exists", "model_id": str(done.id), "model_status": done.status} if done else None
    return snapshot_id, digest, existing


class StepClock:
    """Times each step and reports overall progress to the job."""

    spans = STEP_SPANS  # step → its share of the overall percent

    def __init__(self, progress: Callable):
        self.progress, self.steps, self.curve = progress, [], []

    def run(self, name: str, work: Callable, **details):
        self.progress(name, self.spans[name][0], **details)
        began = time.perf_counter()
        result = work()
        self.steps.append({"step": name, "seconds": round(time.perf_counter() - began, 3)})
        return result

    def training_progress(self, step: str, percent: float, **details) -> None:
        """Map the trainer's per-step percent into the train span; keep the loss curve."""
        if "loss" in details and "epoch" in details:
            self.curve.append({"phase": step, "epoch": details["epoch"], "loss": details["loss"],
                               "hr@10": details.get("validation_hr_at_10") or details.get("hr@10")})
        low, high = self.spans["train"]
        self.progress("train", low + (high - low) * percent / 100, phase=step, **details)


def _validate_data(data) -> dict:
    facts = {"users": int(data.n_users), "services": int(data.n_services),
             "interactions": int(len(data.user_rows)), "recommendable": int(data.recommendable.sum())}
    minimums = current_app.config["TRAINING_MINIMUMS"]
    short = {key: f"{facts[key]} < {minimums[key]}" for key in minimums if facts[key] < minimums[key]}
    if short:
        raise DataRejected("too little data to train NCF", short)
    return facts


def _baselines(data) -> dict:
    split = leave_last_out(data.user_rows, data.service_rows, data.order)
    fits = {"Popularity": lambda: fit_popularity_baseline(split.train_users, split.train_items,
                                                          data.n_users, data.n_services)}
    if data.n_services <= EASE_MAX_SERVICES:
        fits["EASE"] = lambda: fit_ease(split.train_users, split.train_items, data.n_users, data.n_services)
    return {name: ranking_metrics(fit().score_users, split, data.recommendable) for name, fit in fits.items()}


def run_ncf_pipeline(snapshot_id: str | None = None, config: NCFTrainingConfig | None = None,
                     progress: Callable = lambda *a, **k: None, job_id: str | None = None) -> dict:
    """Train, evaluate, register and (if not worse) activate an NCF version; idempotent
    per (snapshot, config): a finished run for the same pair is returned as it is."""
    config = config or NCFTrainingConfig()
    snapshot_id, digest, existing = plan_run("NCF", snapshot_id, config)
    if existing:
        return existing
    clock = StepClock(progress)
    dump = clock.run("extract", lambda: raw_dump(snapshot_id), snapshot_id=snapshot_id)
    data = clock.run("prepare", lambda: interaction_data_from_dump(dump))
    facts = clock.run("validate data", lambda: _validate_data(data))
    result = clock.run("train", lambda: train_ncf(data, config, clock.training_progress))
    baselines = clock.run("evaluate baselines", lambda: _baselines(data))
    metrics = {key: value for key, value in result.metrics.items() if key != "reports"}
    summary = {**metrics, "baselines": baselines, "data": facts, "steps": clock.steps,
               "reports": result.metrics["reports"], "curve": clock.curve}
    version = clock.run("register", lambda: model_registry.register(
        "NCF", result.model.to_arrays(), result.model.params(), dataset_id=snapshot_id,
        config={**result.config, "digest": digest}, metrics=summary, job_id=job_id,
        training_seconds=result.seconds))
    model_registry.add_plot(version, "training", training_curves(clock.curve))
    model_registry.add_plot(version, "metrics", metrics_chart({"NCF": metrics, **baselines}))
    outcome = clock.run("validate model", lambda: _activate_if_not_worse(version))
    version.update(set__metrics__steps=clock.steps)  # now with the last two steps
    return {"status": outcome, "model_id": str(version.id), "snapshot_id": snapshot_id,
            GATE_METRIC: metrics.get(GATE_METRIC), "steps": clock.steps}


def _activate_if_not_worse(version: ModelVersion) -> str:
    if not current_app.config["ACTIVATE_ONLY_IF_NOT_WORSE"]:
        model_registry.activate(version)
        return "activated"
    try:
        model_registry.activate(version, metric=GATE_METRIC)
    except model_registry.ModelRejected:
        return "rejected"
    return "activated"
