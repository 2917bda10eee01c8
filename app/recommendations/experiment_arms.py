"""Which variant of a running experiment serves a request, and which shadows run beside it.

The running experiments are read where the serving state is built (once per stamp: an
experiment started or stopped changes it), never per request. A request is in an
experiment when its page and panel fall in the experiment's scope and it names no engine;
one that names an engine (a ranking, a caller's own choice) bypasses it, and the log says
so. Assignment is app/experiments/assignment.py: a hash, nothing stored.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.experiments.assignment import unit_of, variant_index
from app.storage.experiments import Experiment, running_experiments


@dataclass(frozen=True)
class Arm:
    """A variant as serving needs it."""

    name: str
    engine: str
    model_version: str | None  # pinned; None: the engine's active version


@dataclass(frozen=True)
class LiveExperiment:
    id: str
    page_id: str | None
    panel_id: str | None
    shown: tuple[Arm, ...]
    shares: tuple[float, ...]
    shadows: tuple[Arm, ...]

    def takes(self, page_id: str | None, panel: str) -> bool:
        return (self.page_id is None or self.page_id == page_id) and (self.panel_id is None or self.panel_id == panel)


@dataclass(frozen=True)
class Placement:
    """Where one request stands: `arm` None means it bypassed the experiment."""

    experiment: LiveExperiment
    unit: str
    arm: Arm | None

    def log_fields(self) -> dict:
        """What the served-recommendation log keeps of it."""
        if self.arm is None:
            return {"experiment_bypassed": self.experiment.id}
        return {"experiment": self.experiment.id, "variant": self.arm.name, "unit": self.unit}


def live(experiment: Experiment) -> LiveExperiment:
    shown = [v for v in experiment.variants if not v.shadow]
    return LiveExperiment(
        id=str(experiment.id), page_id=experiment.scope.page_id, panel_id=experiment.scope.panel_id,
        shown=tuple(Arm(v.name, v.engine, v.model_version) for v in shown),
        shares=tuple(v.share for v in shown),
        shadows=tuple(Arm(v.name, v.engine, v.model_version) for v in experiment.variants if v.shadow),
    )


def live_experiments() -> tuple[LiveExperiment, ...]:
    return tuple(live(e) for e in running_experiments())


def place(experiments: tuple[LiveExperiment, ...], payload: dict, panel: str,
          user_id: int | None) -> Placement | None:
    """The request's place in the running experiment that takes it; None when none does."""
    if not experiments:
        return None
    experiment = next((e for e in experiments if e.takes(payload.get("page_id"), panel)), None)
    unit = unit_of(user_id, payload.get("unique_id"))
    if experiment is None or unit is None:
        return None
    if payload.get("engine_version"):
        return Placement(experiment, unit, None)
    return Placement(experiment, unit, experiment.shown[variant_index(experiment.id, unit, experiment.shares)])


def pinned_versions(experiments: tuple[LiveExperiment, ...]) -> set[str]:
    """Model versions that some variant pins."""
    return {arm.model_version for e in experiments for arm in (*e.shown, *e.shadows) if arm.model_version}
