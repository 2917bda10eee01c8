"""Operator commands, one group per module: `flask --app app <group> <command>`."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli.data import data_cli, seed_command
    from app.cli.db import db_cli, jobs_cli
    from app.cli.experiments import experiments_cli
    from app.cli.rl import regenerate_sars_command, train_rl_command
    from app.cli.train import hitrate_command, train_cli

    train_cli.add_command(train_rl_command)
    db_cli.add_command(regenerate_sars_command)
    for command in (db_cli, jobs_cli, data_cli, seed_command, train_cli, hitrate_command, experiments_cli):
        app.cli.add_command(command)
