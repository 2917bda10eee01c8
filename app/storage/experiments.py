"""Experiments on live traffic: their records, their life cycle, and the per-person counts
their results are computed from.

    running ──▶ stopped

An experiment is created running (`started`); `stopped` ends it. Every change bumps the
serving stamp (`ExperimentsState`), which API processes poll once a second with the
registry's, so a new or stopped experiment reaches serving within a second, with no
per-request query.
"""
from __future__ import annotations

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    FloatField,
    IntField,
    StringField,
)

from app.storage.jobs import utcnow

STATUSES = ("running", "stopped")


class Variant(EmbeddedDocument):
    name = StringField(required=True)
    engine = StringField(required=True)
    model_version = StringField()  # pinned version; None: the engine's active version
    share = FloatField(required=True)  # of the experiment's traffic; 0 for a shadow
    control = BooleanField(default=False)
    shadow = BooleanField(default=False)  # computed and logged for every request, never shown


class Scope(EmbeddedDocument):
    """The requests it takes: those of this page and/or this panel (None: any)."""

    page_id = StringField()
    panel_id = StringField()


class Experiment(Document):
    name = StringField(required=True)
    scope = EmbeddedDocumentField(Scope, required=True)
    variants = EmbeddedDocumentListField(Variant, required=True)
    status = StringField(required=True, choices=STATUSES)
    created_at = DateTimeField(required=True)
    stopped_at = DateTimeField()
    results = DictField()  # the latest summary (app/experiments/statistics.summarize) with its time

    meta = {"collection": "experiments", "indexes": [("status", "created_at")], "strict": False}


class ExperimentsState(Document):
    """A counter bumped whenever an experiment starts or stops: the serving stamp's part."""

    id = StringField(primary_key=True, default="experiments")
    stamp = IntField(required=True, default=0)

    meta = {"collection": "experiments_state"}


class UnitOutcomes(Document):
    """One person's panels and what followed them in one experiment and variant, folded
    slice by slice (app/pipelines/served_outcomes.py): `last_slice` is the start of
    the last slice counted, so a slice folded again is not counted twice."""

    id = StringField(primary_key=True)  # "<experiment id>|<variant>|<unit>"
    experiment = StringField(required=True)
    variant = StringField(required=True)
    unit = StringField(required=True)  # the person: deleting a user's data deletes their counts
    panels = IntField(default=0)
    clicks = IntField(default=0)
    page_clicks = IntField(default=0)
    orders = IntField(default=0)
    # A shadow's off-policy sums (app/experiments/totals.py); absent elsewhere.
    logged_panels = IntField()
    weighted_clicks = FloatField()
    weighted_orders = FloatField()
    weighted_shown = FloatField()
    shadow_shown = IntField()
    last_slice = DateTimeField(required=True)

    meta = {"collection": "experiment_units", "indexes": ["experiment", "unit"], "strict": False}


class Bypasses(Document):
    """Requests in an experiment's scope that named their engine, so were served as asked: a
    marketplace that names an engine on every request gives its experiments no traffic."""

    id = StringField(primary_key=True)  # the experiment id
    requests = IntField(default=0)
    last_slice = DateTimeField(required=True)

    meta = {"collection": "experiment_bypasses", "strict": False}


def bypassed_requests(experiment_id: str) -> int:
    found = Bypasses.objects(id=experiment_id).first()
    return found.requests if found else 0


def bump_stamp() -> None:
    ExperimentsState.objects(id="experiments").update_one(inc__stamp=1, upsert=True)


def experiments_stamp() -> int:
    """Changes whenever an experiment starts or stops; cheap to poll."""
    state = ExperimentsState.objects(id="experiments").first()
    return state.stamp if state else 0


def running_experiments() -> list[Experiment]:
    # Equality on the index's prefix plus a sort on its next key: one index range.
    return list(Experiment.objects(status="running").order_by("created_at"))


def started(experiment: Experiment) -> Experiment:
    experiment.status = "running"
    experiment.created_at = utcnow()
    experiment.save(force_insert=True)
    bump_stamp()
    return experiment


def stopped(experiment_id) -> bool:
    """Stop it if it runs; whether it changed."""
    changed = Experiment.objects(id=experiment_id, status="running").update_one(
        set__status="stopped", set__stopped_at=utcnow()) == 1
    if changed:
        bump_stamp()
    return changed


def withdrawn(experiment_id) -> None:
    """Delete one that lost a race to start (app/experiment_registry.py) before it served."""
    Experiment.objects(id=experiment_id).delete()
    bump_stamp()


def record_results(experiment_id, results: dict) -> None:
    Experiment.objects(id=experiment_id).update_one(set__results=results)
