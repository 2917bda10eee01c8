"""Experiments: create one (checking what the schema cannot), list, describe and stop them.

At most one running experiment takes any request: two scopes overlap when, for page and
panel each, either leaves it open or both name the same one, and a new experiment whose
scope overlaps a running one's is refused. Two overlapping experiments created at the
same moment both pass the check before either is stored, so each checks again once
stored, and the younger of the two withdraws (ObjectIds order them by creation).
"""
from __future__ import annotations

from bson import ObjectId

from app import model_registry
from app.errors import Conflict, InvalidInput, NotFound
from app.storage import experiments as lifecycle
from app.storage.experiments import Experiment, Scope, Variant
from app.storage.models import ENGINE_OF_MODEL

SHARES_TOLERANCE = 1e-6


def describe(experiment: Experiment) -> dict:
    """An experiment as the API shows it."""
    return {
        "id": str(experiment.id), "name": experiment.name,
        "scope": {"page_id": experiment.scope.page_id, "panel_id": experiment.scope.panel_id},
        "variants": [{"name": v.name, "engine": v.engine, "model_version": v.model_version, "share": v.share,
                      "control": v.control, "shadow": v.shadow} for v in experiment.variants],
        "status": experiment.status, "created_at": experiment.created_at, "stopped_at": experiment.stopped_at,
        "results": dict(experiment.results) or None,
    }


def get_experiment(experiment_id: str) -> dict:
    return describe(_stored(experiment_id))


def list_experiments(status: str | None = None) -> list[dict]:
    """Newest first; only running or only stopped ones with `status`."""
    query = Experiment.objects(status=status) if status else Experiment.objects()
    return [describe(e) for e in query.order_by("-created_at")]


def stop_experiment(experiment_id: str) -> dict:
    """Stop it (stopping a stopped one changes nothing); its results stay."""
    lifecycle.stopped(_stored(experiment_id).id)
    return get_experiment(experiment_id)


def create_experiment(payload: dict) -> dict:
    """Start an experiment from a checked POST /experiments body; raises InvalidInput naming
    the field, or Conflict when a running experiment already takes some of its requests."""
    variants = [_variant(v) for v in payload["variants"]]
    _check_variants(variants)
    scope = Scope(page_id=(payload.get("scope") or {}).get("page_id"),
                  panel_id=(payload.get("scope") or {}).get("panel_id"))
    _refuse_overlap(scope, before=None)
    experiment = lifecycle.started(Experiment(id=ObjectId(), name=payload["name"], scope=scope, variants=variants))
    try:
        _refuse_overlap(scope, before=experiment.id)
    except Conflict:
        lifecycle.withdrawn(experiment.id)
        raise
    return describe(experiment)


def _stored(experiment_id: str) -> Experiment:
    experiment = Experiment.objects(id=experiment_id).first() if ObjectId.is_valid(experiment_id) else None
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id}", {"experiment_id": "unknown experiment"})
    return experiment


def _variant(given: dict) -> Variant:
    shadow = bool(given.get("shadow"))
    return Variant(name=given["name"], engine=given["engine"], model_version=given.get("model_version"),
                   share=float(given.get("share") or 0.0), control=bool(given.get("control")), shadow=shadow)


def _check_variants(variants: list[Variant]) -> None:
    errors = {}
    names = [v.name for v in variants]
    for index, variant in enumerate(variants):
        at = f"variants.{index}"
        if names.index(variant.name) != index:
            errors[f"{at}.name"] = f"{variant.name!r} names another variant already"
        if variant.shadow and variant.share:
            errors[f"{at}.share"] = "a shadow variant is not shown: its share must be 0 or absent"
        if variant.shadow and variant.control:
            errors[f"{at}.control"] = "the control is shown: it cannot be a shadow"
        if not variant.shadow and variant.share <= 0:
            errors[f"{at}.share"] = "a shown variant needs a share above 0"
        if variant.model_version is not None:
            reason = _version_problem(variant)
            if reason:
                errors[f"{at}.model_version"] = reason
    shown = [v for v in variants if not v.shadow]
    if len(shown) < 2:
        errors["variants"] = "at least two variants must be shown (not shadows)"
    elif abs(sum(v.share for v in shown) - 1.0) > SHARES_TOLERANCE:
        errors["variants"] = f"the shown variants' shares must sum to 1, not {sum(v.share for v in shown):.6g}"
    if sum(v.control for v in shown) != 1:
        errors.setdefault("variants", "exactly one shown variant must be the control")
    if errors:
        raise InvalidInput("the experiment is not valid", errors)


def _version_problem(variant: Variant) -> str | None:
    kind = ENGINE_OF_MODEL.get(variant.engine)
    if kind is None:
        return f"{variant.engine} has no model versions to pin"
    try:
        version = model_registry.get_version(variant.model_version)
    except NotFound:
        return "unknown model version"
    if version.engine != kind:
        return f"model version {variant.model_version} is a {version.engine} version, not {kind}"
    if version.status == "rejected":
        return f"model version {variant.model_version} was rejected ({(version.metrics or {}).get('gate')})"
    return None


def overlaps(a: Scope, b: Scope) -> bool:
    """Whether some request falls in both scopes."""
    return all(x is None or y is None or x == y for x, y in ((a.page_id, b.page_id), (a.panel_id, b.panel_id)))


def _refuse_overlap(scope: Scope, before: ObjectId | None) -> None:
    """Conflict if a running experiment (created before `before`, when given) takes some of its requests."""
    for running in lifecycle.running_experiments():
        if before is not None and running.id >= before:
            continue
        if overlaps(scope, running.scope):
            raise Conflict("a running experiment already takes some of these requests",
                           {"scope": f"overlaps experiment {running.id} ({running.name!r}) with scope "
                                     f"page_id={running.scope.page_id!r}, panel_id={running.scope.panel_id!r}; "
                                     "stop it first"})
