"""The Experiments page: every experiment with its variants, its per-variant results as bars
with their 95% intervals and its verdict; a form to start one and a button to stop one."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from markupsafe import Markup

from app import experiment_registry as registry
from app.dashboard import charts
from app.dashboard.blueprint import bp
from app.errors import Conflict, InvalidInput
from app.wire.experiments import EXPERIMENT_REQUEST, MAX_VARIANTS, PANEL_ENGINES, PANELS

FORM_ROWS = 4  # variant rows the form offers; rows left without a name are not variants
TONE_OF_VERDICT = {"better": "better", "worse": "worse"}


def result_charts(results: dict | None) -> dict:
    """The primary metric of every variant, and each variant's difference from the control."""
    if not results:
        return {}
    metric = results.get("primary_metric") or "visitor_click_rate"
    variants = results.get("variants") or []

    def tone(variant: dict) -> str | None:
        if variant.get("control"):
            return "control"
        return TONE_OF_VERDICT.get((variant.get("against_control") or {}).get("verdict"))

    rates = [{"label": v["name"] + (" (shadow)" if v.get("shadow") else ""), "tone": tone(v),
              **(v.get(metric) or {})} for v in variants]
    differences = [{"label": v["name"], "tone": tone(v), "value": v["against_control"].get("difference"),
                    "low": v["against_control"].get("low"), "high": v["against_control"].get("high")}
                   for v in variants if v.get("against_control")]
    return {
        "rates": Markup(charts.interval_bars(rates, title=f"{metric} per variant, with its 95% interval")),
        "differences": Markup(charts.interval_bars(
            differences, title=f"{metric}: difference from the control ({results.get('control')})",
            empty="no variant is compared with the control")),
    }


def blank_form() -> dict:
    rows = [{"name": "", "engine": "", "model_version": "", "share": "", "shadow": False} for _ in range(FORM_ROWS)]
    return {"name": "", "page_id": "", "panel_id": "", "control": "0", "rows": rows}


def form_of(values) -> dict:
    """The form as sent, to fill it in again next to its errors."""
    rows_sent = min(MAX_VARIANTS, max(FORM_ROWS, sum(1 for key in values if key.endswith(".name"))))
    rows = [{"name": values.get(f"variants.{i}.name", "").strip(), "engine": values.get(f"variants.{i}.engine", ""),
             "model_version": values.get(f"variants.{i}.model_version", "").strip(),
             "share": values.get(f"variants.{i}.share", "").strip(), "shadow": f"variants.{i}.shadow" in values}
            for i in range(rows_sent)]
    return {"name": values.get("name", "").strip(), "page_id": values.get("page_id", "").strip(),
            "panel_id": values.get("panel_id", ""), "control": values.get("control", ""), "rows": rows}


def payload_of(form: dict) -> tuple[dict, dict, list[int]]:
    """(POST /experiments body, errors found reading the form, the form row of each variant)."""
    errors, variants, rows = {}, [], []
    for row, given in enumerate(form["rows"]):
        if not given["name"]:
            continue
        variant = {"name": given["name"], "engine": given["engine"], "model_version": given["model_version"] or None,
                   "control": form["control"] == str(row), "shadow": given["shadow"]}
        try:
            variant["share"] = float(given["share"] or 0)
        except ValueError:
            errors[f"variants.{len(variants)}.share"] = f"{given['share']!r} is not a number"
            variant["share"] = 0.0
        variants.append(variant)
        rows.append(row)
    scope = {"page_id": form["page_id"] or None, "panel_id": form["panel_id"] or None}
    return {"name": form["name"], "scope": scope, "variants": variants}, errors, rows


def _page(form: dict, errors: dict | None = None, rows: list[int] | None = None, status: int = 200):
    experiments = registry.list_experiments()
    for experiment in experiments:
        experiment["charts"] = result_charts(experiment["results"])
    by_row = {}  # form row → its errors, named by field
    for path, reason in (errors or {}).items():
        parts = path.split(".")
        if parts[0] == "variants" and len(parts) > 2 and rows and int(parts[1]) < len(rows):
            by_row.setdefault(rows[int(parts[1])], {})[parts[2]] = reason
    return render_template("experiments.html", page="experiments", experiments=experiments, form=form,
                           errors=errors or {}, row_errors=by_row, engines=PANEL_ENGINES, panels=PANELS), status


@bp.route("/experiments")
def experiments():
    return _page(blank_form())


@bp.route("/experiments", methods=["POST"])
def create_experiment():
    form = form_of(request.form)
    payload, errors, rows = payload_of(form)
    errors = {**EXPERIMENT_REQUEST.errors(payload), **errors}
    if errors:
        return _page(form, errors, rows, 400)
    try:
        created = registry.create_experiment(payload)
    except (InvalidInput, Conflict) as refused:
        return _page(form, refused.errors or {"$": refused.message}, rows, refused.status)
    return redirect(url_for("dashboard.experiments") + f"#experiment-{created['id']}")


@bp.route("/experiments/<experiment_id>/stop", methods=["POST"])
def stop_experiment(experiment_id: str):
    stopped = registry.stop_experiment(experiment_id)
    return redirect(url_for("dashboard.experiments") + f"#experiment-{stopped['id']}")
