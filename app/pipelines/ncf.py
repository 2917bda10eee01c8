"""The NCF training pipeline, as one Celery job runs it: extract → validate data →
prepare → train → evaluate (with baselines) → validate model → register → activate.
Orders are the dump's takings; the stored clicks and carts of its users train the click
and cart objectives' service sides (app/training/ncf_objectives.py).

Each step's time and details are kept in the version's metrics; the job reports
step, percent, epoch and loss while it runs. A version is registered only when
complete and activated only when it is not worse than the active one on the same
data (app/training/gate.py), so a killed worker never leaves a half-written
version active. Its metrics also say which engine measured best on its split
("default_engine"): what serves by default while it is active.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from gridfs.errors import NoFile

from app import model_registry
from app.engines import NCFModel
from app.errors import DataRejected, NotFound
from app.pipelines.interaction_models import collect_interactions
from app.pipelines.run import StepClock, plan_run
from app.progress import Progress, no_progress
from app.storage.models import ModelVersion
from app.storage.raw_dumps import raw_dump
from app.training.baselines import fit_ease, fit_popularity_baseline, fit_session_baseline
from app.training.dataset import InteractionData, interaction_data_from_dump
from app.training.evaluation import Split, leave_last_out, ranking_metrics
from app.training.gate import DEFAULT_METRIC, GATE_METRIC, best_engine, compare_on_candidate_split, declared_features
from app.training.ncf_objectives import objective_positives
from app.training.ncf_training import NCFTrainingConfig, NCFTrainingResult, train_ncf
from app.training.plots import metrics_chart, training_curves

# Share of the overall percent each step accounts for (training dominates).
STEPS = {"extract": (0, 5), "prepare": (5, 8), "validate data": (8, 10), "train": (10, 85),
         "evaluate baselines": (85, 93), "register": (93, 96), "validate model": (96, 100)}
EASE_MAX_SERVICES = 5000  # EASE inverts a services × services matrix


def _validate_data(data) -> dict:
    facts = {"users": int(data.n_users), "services": int(data.n_services),
             "interactions": int(len(data.user_rows)), "recommendable": int(data.recommendable.sum())}
    minimums = current_app.config["TRAINING_MINIMUMS"]
    short = {key: f"{facts[key]} < {minimums[key]}" for key in minimums if facts[key] < minimums[key]}
    if short:
        raise DataRejected("too little data to train NCF", short)
    return facts


def _baselines(data: InteractionData, split: Split, config: NCFTrainingConfig) -> dict:
    """Popularity, Session and (on catalogues small enough) EASE, on NCF's split and negatives."""
    fits = {"Popularity": lambda: fit_popularity_baseline(split.train_users, split.train_items,
                                                          data.n_users, data.n_services),
            "Session": lambda: fit_session_baseline(split.train_users, split.train_items, split.train_order,
                                                    data.services.ids, data.n_users)}
    if data.n_services <= EASE_MAX_SERVICES:
        fits["EASE"] = lambda: fit_ease(split.train_users, split.train_items, data.n_users, data.n_services)
    return {name: ranking_metrics(fit().score_users, split, data.recommendable, config.k,
                                  seed=config.evaluation_seed)
            for name, fit in fits.items()}


def run_ncf_pipeline(snapshot_id: str | None = None, config: NCFTrainingConfig | None = None,
                     progress: Progress = no_progress, job_id: str | None = None) -> dict:
    """Train, evaluate, register and (if not worse) activate an NCF version; idempotent
    per (snapshot, config): a finished run for the same pair is returned as it is."""
    config = config or NCFTrainingConfig()
    snapshot_id, digest, existing = plan_run("NCF", snapshot_id, config)
    if existing:
        return existing
    clock = StepClock(STEPS, progress)
    # What the dump's users clicked and carted, for those objectives: the interactions this trainer
    # process keeps for the Popularity and Session refits, extended with what arrived since.
    dump, (stored, _) = clock.run("extract", lambda: (raw_dump(snapshot_id), collect_interactions(snapshot_id)),
                                  snapshot_id=snapshot_id)
    data = clock.run("prepare", lambda: interaction_data_from_dump(dump))
    objectives = objective_positives(data, stored)
    facts = clock.run("validate data", lambda: _validate_data(data))
    result = clock.run("train", lambda: train_ncf(data, config, clock.training_progress, objectives))
    split = leave_last_out(data.user_rows, data.service_rows, data.order)  # the one train_ncf evaluated on
    baselines = clock.run("evaluate baselines", lambda: _baselines(data, split, config))
    metrics = {key: value for key, value in result.metrics.items() if key != "reports"}
    default = best_engine({"NCF": metrics.get(DEFAULT_METRIC),
                           **{name: figures.get(DEFAULT_METRIC) for name, figures in baselines.items()}})
    summary = {**metrics, "baselines": baselines, "default_engine": default, "data": facts, "steps": clock.steps,
               "reports": result.metrics["reports"], "curve": clock.curve}
    version = clock.run("register", lambda: model_registry.register(
        "NCF", result.model.to_arrays(), result.model.params(), dataset_id=snapshot_id,
        config={**result.config, "digest": digest}, metrics=summary, job_id=job_id,
        training_seconds=result.seconds))
    model_registry.add_plot(version, "training", training_curves(clock.curve))
    model_registry.add_plot(version, "metrics", metrics_chart({"NCF": metrics, **baselines}))
    candidate = Candidate(version, data, split, dump, result, config)
    outcome, gate = clock.run("validate model", lambda: _activate_if_not_worse(candidate))
    version.update(set__metrics__steps=clock.steps, set__metrics__gate=gate)  # now with the last two steps
    return {"status": outcome, "model_id": str(version.id), "snapshot_id": snapshot_id,
            GATE_METRIC: metrics.get(GATE_METRIC), "default_engine": default["engine"], "gate": gate,
            "steps": clock.steps}


@dataclass(frozen=True, eq=False)
class Candidate:
    """A registered version with what it was trained and measured on, for the gate."""

    version: ModelVersion
    data: InteractionData
    split: Split
    dump: dict
    result: NCFTrainingResult
    config: NCFTrainingConfig


def _activate_if_not_worse(candidate: Candidate) -> tuple[str, dict | None]:
    """Activate the candidate unless the active version is better on the same data; the second
    value says what the active version measured, and on what (None when nothing was compared)."""
    version = candidate.version
    current = model_registry.active_version("NCF")
    if not current_app.config["ACTIVATE_ONLY_IF_NOT_WORSE"] or current is None or current.id == version.id:
        model_registry.activate(version)
        return "activated", None
    gate = {"model_id": str(current.id), "dataset_id": current.dataset_id, "metric": GATE_METRIC}
    if current.dataset_id == version.dataset_id:  # measured on this very split when it was trained
        gate.update(candidate=version.metrics.get(GATE_METRIC), active=current.metrics.get(GATE_METRIC),
                    reason="both measured on the same snapshot's split when trained")
        try:
            model_registry.activate(version, metric=GATE_METRIC)
        except model_registry.ModelRejected:
            return "rejected", gate
        return "activated", gate
    gate.update(_measured_on_candidate_split(current, candidate))
    if gate["active"] is not None and gate["candidate"] < gate["active"]:
        version.update(status="rejected")
        return "rejected", gate
    model_registry.activate(version)
    return "activated", gate


def _measured_on_candidate_split(current: ModelVersion, candidate: Candidate) -> dict:
    """The active version (trained on another snapshot) and the candidate, on the candidate's split."""
    try:
        other_dump = raw_dump(current.dataset_id) if current.dataset_id else None
    except (NotFound, NoFile):  # its snapshot or raw dump was deleted since
        other_dump = None
    try:
        active = NCFModel.from_arrays(model_registry.load_arrays(current), current.params)
    except (NoFile, ValueError) as error:  # weights gone or not matching their digest
        return {"candidate": None, "active": None, "reason": f"the active version cannot be loaded: {error}"}
    return compare_on_candidate_split(
        active, other_dump, candidate.data, candidate.split, candidate.result.held_out_scores,
        declared_features(candidate.dump), candidate.config.k, candidate.config.evaluation_seed)
