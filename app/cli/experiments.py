"""`flask experiments list|report|stop`: experiments on live traffic from a terminal."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app import experiment_registry as registry
from app.errors import NotFound
from app.pipelines.served_outcomes import fold_served_outcomes

experiments_cli = AppGroup("experiments", help="Experiments on live traffic: list, report, stop.")


def _percent(interval: dict | None) -> str:
    if not interval or interval.get("value") is None:
        return "-"
    low, high = interval.get("low"), interval.get("high")
    bounds = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else ""
    return f"{100 * interval['value']:.2f}%{bounds}"


def report_lines(experiment: dict) -> list[str]:
    """The experiment's results as lines of text."""
    scope = experiment["scope"]
    lines = [f"{experiment['name']} ({experiment['id']}, {experiment['status']}), "
             f"page {scope['page_id'] or 'any'}, panel {scope['panel_id'] or 'any'}"]
    results = experiment["results"]
    if not results:
        return [*lines, "no panels counted yet (they are counted once their attribution window has passed)"]
    lines.append(f"counted through {results.get('through')}")
    lines.append(f"{'variant':<24}{'people':>8}{'panels':>8}{'clicks':>8}{'orders':>8}  "
                 f"{'people who clicked':<26}{'clicks per panel':<26}against control")
    for row in results["variants"]:
        role = " (control)" if row["control"] else " (shadow)" if row["shadow"] else ""
        test = row.get("against_control")
        against = "-" if not test else (
            f"{test['verdict']}, p={test['p_value']:.3g}" if test.get("p_value") is not None else test["verdict"])
        lines.append(f"{row['name'] + role:<24}{row['units']:>8}{row['panels']:>8}{row['clicks']:>8}"
                     f"{row['orders']:>8}  {_percent(row['visitor_click_rate']):<26}{_percent(row['ctr']):<26}"
                     f"{against}")
    lines += [_off_policy_line(row) for row in results["variants"] if row.get("off_policy")]
    lines.append(results["verdict"])
    if results.get("bypassed"):
        lines.append(f"{results['bypassed']} requests in its scope named their engine_version and were served as "
                     "asked, outside the experiment")
    return lines


def _off_policy_line(row: dict) -> str:
    estimate = row["off_policy"]
    check = estimate.get("weight_check")
    return (f"{row['name']} had it been shown, estimated from {estimate['panels']} panels served at random: "
            f"{_percent(estimate['ctr'])} clicks per panel, {_percent(estimate['orders_per_panel'])} orders per "
            f"panel (weight check {'-' if check is None else f'{check:.2f}'}, near 1 when sound)")


@experiments_cli.command("list")
@click.option("--status", type=click.Choice(["running", "stopped"]), default=None)
def list_command(status):
    """Experiments, newest first."""
    for experiment in registry.list_experiments(status):
        variants = ", ".join(f"{v['name']}={v['engine']}" + (" (shadow)" if v["shadow"] else f" {v['share']:g}")
                             for v in experiment["variants"])
        click.echo(f"{experiment['id']}  {experiment['status']:<8} {experiment['name']}: {variants}")


@experiments_cli.command("report")
@click.argument("experiment_id")
@click.option("--fold/--no-fold", default=False, help="count the panels due first (beat does it every minute)")
@click.option("--json", "as_json", is_flag=True, help="the results as JSON")
def report_command(experiment_id, fold, as_json):
    """Per-variant results and the verdict."""
    try:
        registry.get_experiment(experiment_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from exc
    if fold:
        fold_served_outcomes()  # summarises the experiments it counted new panels of
    experiment = registry.get_experiment(experiment_id)
    if as_json:
        click.echo(json.dumps(experiment, default=str, indent=2))
    else:
        click.echo("\n".join(report_lines(experiment)))


@experiments_cli.command("stop")
@click.argument("experiment_id")
def stop_command(experiment_id):
    """Stop it: its requests go back to the usual engine choice."""
    try:
        experiment = registry.stop_experiment(experiment_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{experiment['id']} {experiment['status']} at {experiment['stopped_at']}")
