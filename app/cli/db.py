"""`flask db ...` (indexes, statistics, dropping marketplace data) and `flask jobs ...`."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from app import jobs
from app.marketplace import recent_history
from app.storage import all_documents, database
from app.storage.interactions import Event, ServedRecommendation, UserAction
from app.storage.marketplace import DUMP_COLLECTIONS
from app.storage.raw_dumps import DUMP_BUCKET
from app.storage.snapshots import ActiveSnapshot, DatasetSnapshot, WriterLease

db_cli = AppGroup("db", help="MongoDB: indexes, statistics, dropping marketplace data.")
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


def marketplace_collections() -> list[str]:
    """Collections holding what marketplaces sent and what was served from it
    (not jobs, not the model registry)."""
    documents = [*DUMP_COLLECTIONS.values(), DatasetSnapshot, ActiveSnapshot, UserAction, Event, ServedRecommendation]
    names = {document._get_collection_name() for document in documents}
    return sorted(names | {f"{DUMP_BUCKET}.files", f"{DUMP_BUCKET}.chunks"})


def drop_marketplace(everything: bool = False) -> dict[str, int]:
    """Drop the marketplace collections (with `everything`, every collection, jobs
    and models too) and recreate their indexes; returns documents dropped per collection."""
    db = database()
    # Holding the writer lease, no ingestion or pruning writes while we drop.
    lease = WriterLease("drop")
    lease.acquire(give_up=lambda: False)
    try:
        existing = {name for name in db.list_collection_names() if not name.startswith("system.")}
        names = existing if everything else existing & set(marketplace_collections())
        dropped = {}
        for name in sorted(names):
            dropped[name] = db[name].estimated_document_count()
            db.drop_collection(name)
        # Running processes create indexes only once per collection: put them back now.
        for document in all_documents():
            if document._get_collection_name() in names:
                document.ensure_indexes()
        recent_history.forget_all()  # its copies of the dropped interactions
    finally:
        lease.release()
    return dropped


@db_cli.command("drop-marketplace")
@click.option("--all", "everything", is_flag=True, help="also drop jobs and the model registry")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def drop_marketplace_command(everything, yes):
    """Drop dumps, snapshots, marketplace data, user actions, events and served recommendations."""
    what = "EVERY collection, jobs and models included" if everything else "all marketplace data (jobs and models stay)"
    if not yes:
        click.confirm(f"Drop {what} from database {database().name}?", abort=True)
    dropped = drop_marketplace(everything)
    for name, count in dropped.items():
        click.echo(f"{name}: dropped ({count} documents)")
    click.echo(f"dropped {len(dropped)} collections")


@jobs_cli.command("prune")
@click.option("--days", type=int, default=None, help="keep jobs finished within this many days")
def prune(days):
    """Delete records of jobs finished long ago."""
    days = current_app.config["JOB_RETENTION_DAYS"] if days is None else days
    click.echo(f"deleted {jobs.prune_finished(days)} job records older than {days} days")
