"""Operator commands, one group per module: `flask --app app <group> <command>`."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli.db import db_cli, jobs_cli

    for group in (db_cli, jobs_cli):
        app.cli.add_command(group)
