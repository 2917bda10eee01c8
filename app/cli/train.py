"""`flask train ae|ncf|interaction-models|all` and `flask hitrate`: the training jobs,
run in the foreground with progress bars, and the panels' hit rate."""
from __future__ import annotations

import json
from dataclasses import asdict

import click
from flask.cli import AppGroup

from app.cli.data import run_with_progress
from app.pipelines.interaction_models import fit_interaction_models
from app.recommendations.hit_rate import hit_rate
from app.storage.snapshots import active_snapshot_id

train_cli = AppGroup("train", help="Train models on the active dataset snapshot (or --snapshot).")
snapshot_option = click.option("--snapshot", "snapshot_id", default=None, help="a dataset snapshot id")


def _torch_one_thread():
    """Import torch (only commands that train need it) with one thread: faster on 2 cores."""
    import torch

    torch.set_num_threads(1)


def _autoencoders(snapshot_id, progress) -> dict:
    """Fit both autoencoders and report their held-out reconstruction (nothing is registered)."""
    from app.storage.raw_dumps import raw_dump
    from app.training.autoencoder import fit_autoencoder
    from app.training.dataset import interaction_data_from_dump
    from app.training.ncf_training import NCFTrainingConfig

    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        raise click.ClickException("no active dataset snapshot")
    data = interaction_data_from_dump(raw_dump(snapshot_id))
    config = NCFTrainingConfig()
    return {
        "users": asdict(fit_autoencoder(data.user_features, config.user_autoencoder, progress)[1]),
        "services": asdict(fit_autoencoder(data.service_features, config.service_autoencoder, progress)[1]),
    }


@train_cli.command("ae")
@snapshot_option
def train_autoencoders_command(snapshot_id):
    """User and service autoencoders alone, evaluated on held-out rows."""
    _torch_one_thread()
    run_with_progress(lambda progress: {"reports": json.dumps(_autoencoders(snapshot_id, progress))})


@train_cli.command("ncf")
@snapshot_option
def train_ncf_command(snapshot_id):
    """The NCF pipeline: register the version, activate it if not worse than the active one."""
    _torch_one_thread()
    from app.pipelines.ncf import run_ncf_pipeline

    run_with_progress(lambda progress: run_ncf_pipeline(snapshot_id, progress=progress))


@train_cli.command("interaction-models")
@snapshot_option
def train_interaction_models_command(snapshot_id):
    """Popularity and Session from every stored interaction."""
    run_with_progress(lambda progress: fit_interaction_models(snapshot_id, progress=progress))


@train_cli.command("all")
@snapshot_option
def train_all_command(snapshot_id):
    """Interaction models, then NCF."""
    _torch_one_thread()
    from app.pipelines.ncf import run_ncf_pipeline

    run_with_progress(lambda progress: fit_interaction_models(snapshot_id, progress=progress))
    run_with_progress(lambda progress: run_ncf_pipeline(snapshot_id, progress=progress))


@click.command("hitrate")
@click.argument("engine", required=False)
@click.argument("panel", required=False, type=click.Choice(["v1", "v2"]))
def hitrate_command(engine, panel):
    """Share of clicks from recommendation pages that came from the panel, per engine and panel."""
    rows = hit_rate(engine, panel)
    if not rows:
        click.echo("no served panels with a visit yet")
    for row in rows:
        rate = "-" if row["hit_rate"] is None else f"{row['hit_rate']:.3f}"
        click.echo(f"{row['engine']:<14} {row['panel']}  panels {row['recommendations']:>7}  "
                   f"clicks {row['clicks']:>7}  in panel {row['panel_clicks']:>7}  hit rate {rate}")
