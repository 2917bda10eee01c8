"""`flask db ...` (indexes, statistics) and `flask jobs ...`."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from app import jobs
from app.storage import all_documents, database

db_cli = AppGroup("db", help="MongoDB: indexes and statistics.")
jobs_cli = AppGroup("jobs", help="Background job records.")


@db_cli.command("ensure-indexes")
def ensure_indexes():
    """Create every index the documents declare (safe to run repeatedly)."""
    for document in all_documents():
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
