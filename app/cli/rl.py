"""`flask train rl` and `flask db regenerate-sars`: the RL pipeline and the SARS store, in the
foreground with progress bars. Registered by app/cli/__init__.py into the `train` and `db` groups."""
from __future__ import annotations

import click

from app.cli.data import run_with_progress

snapshot_option = click.option("--snapshot", "snapshot_id", default=None, help="a dataset snapshot id")


@click.command("rl")
@snapshot_option
@click.option("--steps", type=int, default=None, help="TD3 updates (default: the config's)")
@click.option("--fill", "simulated_fill_threshold", type=int, default=None,
              help="top real transitions up with simulated ones to this many")
@click.option("--sars/--no-sars", "with_sars", default=True, help="store new SARS transitions first")
def train_rl_command(snapshot_id, steps, simulated_fill_threshold, with_sars):
    """The RL pipeline: SARS, TD3, evaluation, register the version, activate it if not worse."""
    import torch

    torch.set_num_threads(1)  # faster than 2 on 2-core machines
    from dataclasses import replace

    from app.pipelines.rl import run_rl_pipeline
    from app.pipelines.sars_store import generate_sars
    from app.rl.training import RLTrainingConfig

    config = RLTrainingConfig()
    if steps is not None:
        config.td3 = replace(config.td3, steps=steps)
    if simulated_fill_threshold is not None:
        config.simulated_fill_threshold = simulated_fill_threshold
    if with_sars:
        run_with_progress(lambda progress: generate_sars(progress, snapshot_id=snapshot_id))
    run_with_progress(lambda progress: run_rl_pipeline(snapshot_id, config, progress))


@click.command("regenerate-sars")
@snapshot_option
@click.option("--settle-seconds", type=float, default=None,
              help="only recommendations at least this old (default: RL_SARS_SETTLE_SECONDS or an hour)")
@click.confirmation_option(prompt="Drop every stored SARS transition and build them again?")
def regenerate_sars_command(snapshot_id, settle_seconds):
    """Drop the stored SARS transitions and build them again from the served recommendations."""
    import torch

    torch.set_num_threads(1)
    from app.pipelines.sars_store import regenerate_sars

    run_with_progress(lambda progress: regenerate_sars(progress, settle_seconds, snapshot_id))
