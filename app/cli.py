"""Operator commands: `flask --app app db ...`, `flask --app app jobs ...`."""
from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app import jobs
from app.storage import database
from app.storage.jobs import Job
from app.storage.models import ModelVersion

DOCUMENTS = (Job, ModelVersion)

db_cli = AppGroup("db", help="MongoDB: indexes and statistics.")
jobs_cli = AppGroup("jobs", help="Background job records.")


@db_cli.command("ensure-indexes")
def ensure_indexes():
    """Create every index the documents declare (safe to run repeatedly)."""
    for document in DOCUMENTS:
        document.ensure_indexes()
        click.echo(f"{document._get_collection_name()}: indexes ensured")


@db_cli.command("stats")
def stats():
    """Document counts per collection."""
    db = database()
    counts = {name: db[name].estimated_document_count() for name in sorted(db.list_collection_names())}
    click.echo(json.dumps(counts, indent=2))


@jobs_cli.command("prune")
@click.option("--days", type=int, default=None, help="keep jobs finished within this many days")
def prune(days):
    """Delete records of jobs finished long ago."""
    days = current_app.config["JOB_RETENTION_DAYS"] if days is None else days
    click.echo(f"deleted {jobs.prune_finished(days)} job records older than {days} days")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(jobs_cli)
