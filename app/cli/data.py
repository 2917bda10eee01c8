"""Demo marketplaces: `flask data fetch-movielens|import-movielens|demo` and `flask seed`.

Everything goes through the checks (app/wire/) and the functions the API uses for
/update, /user_actions and /events, so demo data is validated and ingested exactly
as a marketplace's would be. The loading functions are plain (notebooks call them
too); the commands only parse options and print.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext
from tqdm import tqdm

from app.errors import MarketrecError
from app.marketplace import demo_data, dumps, ingestion, pruning
from app.marketplace.events import store_events
from app.marketplace.user_actions import store_user_actions
from app.pipelines.interaction_models import fit_interaction_models
from app.progress import Progress, no_progress
from app.sample_data.movielens import convert_movielens
from app.sample_data.movielens_files import (
    DEFAULT_MOVIELENS_DIR,
    MovieLensUnavailable,
    fetch_movielens,
)
from app.sample_data.synthetic import MarketplaceData, generate_marketplace
from app.storage.snapshots import DEMO_SOURCES, active_snapshot_id, get_snapshot
from app.wire.dump import check_dump
from app.wire.events import EVENT_BATCH
from app.wire.user_actions import checked_actions

# One request's worth: what a marketplace would send per POST, and a bounded memory peak.
BATCH_SIZE = 2000
# `flask data demo` without MovieLens: big enough to train on, loaded in well under a minute.
DEMO_SEED_SIZE = {"services": 300, "users": 200, "projects": 100, "journeys": 3000, "seed": 0}
DEMO_IS_DROPPED = ("Its user actions and events, and the recommendations served from it, are dropped "
                   "when the marketplace's own first dump (POST /update) is switched in.")


def load_marketplace(market: MarketplaceData, source: str, progress: Progress = no_progress) -> dict:
    """Validate everything, then store and ingest the dump and store the actions and events.

    Nothing is written unless the dump, every action and every event pass the
    API's schemas. Returns the snapshot id and what was stored. Every source here is
    a demo source: the actions and events are stored marked demo, and not at all when
    a marketplace's own dump won the switch meanwhile (app/marketplace/demo_data.py).
    """
    demo = source in DEMO_SOURCES
    progress("validating the dump", 0)
    check_dump(market.dump)
    _in_batches(market.user_actions, check_user_actions, "validating user actions", progress)
    _in_batches(market.events, check_events, "validating events", progress)
    progress("storing the dump", 0)
    snapshot = dumps.store_dump(market.dump, source=source)
    outcome = ingestion.ingest_snapshot(snapshot.id, progress=progress)
    loaded = {"snapshot_id": snapshot.id, "snapshot_status": outcome["status"],
              "services": outcome["counts"].get("services"), "users": outcome["counts"].get("users")}
    if demo and outcome["status"] not in ("active", "unchanged"):
        return {**loaded, "new_user_actions": 0, "new_events": 0}
    stored_actions = _in_batches(market.user_actions, partial(store_user_actions, demo=demo),
                                 "storing user actions", progress)
    stored_events = _in_batches(market.events, partial(store_events, demo=demo), "storing events", progress)
    if demo and active_snapshot_id() != snapshot.id:
        # A marketplace's dump was switched in while these were stored, and its drop may have run first.
        demo_data.drop_demo_data()
        return {**loaded, "snapshot_status": "superseded", "new_user_actions": 0, "new_events": 0}
    if outcome["status"] == "active":
        pruning.prune_snapshots(progress=progress)
    progress("fitting the interaction models", 0)
    fit_interaction_models(snapshot.id if outcome["status"] == "active" else None)
    return {**loaded, "new_user_actions": stored_actions, "new_events": stored_events}


def check_user_actions(actions: list[dict]) -> int:
    """Raise InvalidPayload naming every field of `actions` that POST /user_actions would refuse."""
    return len(checked_actions(actions)[0])


def check_events(events: list[dict]) -> int:
    """Raise InvalidPayload naming every field of `events` that POST /events would refuse."""
    EVENT_BATCH.check({"events": events})
    return len(events)


def import_movielens(directory: Path, progress: Progress = no_progress) -> dict:
    """Load the MovieLens 100K files in `directory` as the marketplace (source "movielens")."""
    progress("reading MovieLens", 0)
    return load_marketplace(convert_movielens(directory), source="movielens", progress=progress)


def seed_marketplace(services: int, users: int, projects: int, journeys: int, seed: int,
                     progress: Progress = no_progress) -> dict:
    """Generate a synthetic marketplace of the given size and load it (source "seed")."""
    progress("generating the marketplace", 0)
    market = generate_marketplace(services=services, users=users, projects=projects, journeys=journeys, seed=seed)
    return load_marketplace(market, source="seed", progress=progress)


def load_demo(directory: Path = DEFAULT_MOVIELENS_DIR, progress: Progress = no_progress,
              say: Callable[[str], None] = print) -> dict | None:
    """MovieLens (fetched when missing) unless a snapshot is active; a seeded marketplace
    when MovieLens cannot be fetched. Returns None when there was nothing to do.

    Demo data is a demo: it is dropped when the marketplace's own first dump is switched in."""
    active = active_snapshot_id()
    if active:
        source = get_snapshot(active).source
        if source in DEMO_SOURCES:
            say(f"demo snapshot {active} ({source}) is active: no demo data loaded again. {DEMO_IS_DROPPED}")
        else:
            say(f"snapshot {active}, the marketplace's own dump, is active: no demo data loaded")
        return None
    try:
        say(f"fetching MovieLens 100K into {directory} (cached after the first time)")
        fetch_movielens(directory)
    except MovieLensUnavailable as exc:
        say(f"MovieLens is unavailable ({exc.message}: {exc.errors}); seeding a synthetic marketplace instead")
        loaded = seed_marketplace(**DEMO_SEED_SIZE, progress=progress)
    else:
        say("importing MovieLens 100K as a demo marketplace (about a minute the first time)")
        loaded = import_movielens(directory, progress=progress)
    if loaded["snapshot_status"] not in ("active", "unchanged"):
        say(f"a marketplace's own dump was switched in meanwhile: demo data not kept ({loaded['snapshot_status']})")
        return None
    say(f"demo data loaded (snapshot {loaded['snapshot_id']}): it is only a demo. {DEMO_IS_DROPPED}")
    return loaded


def _in_batches(items: list[dict], handle: Callable[[list[dict]], int], step: str, progress: Progress) -> int:
    """`handle` each batch of `items`, reporting progress; returns the sum of what it returns."""
    total = 0
    for start in range(0, len(items), BATCH_SIZE):
        progress(step, 100 * start / len(items), done=start, total=len(items))
        total += handle(items[start:start + BATCH_SIZE])
    return total


class ProgressBars:
    """A `progress(step, percent)` callable drawing one tqdm bar per step on stderr."""

    def __init__(self):
        self.step, self.bar = None, None

    def __call__(self, step: str, percent: float, **details) -> None:
        if step != self.step:
            self.close(finished=True)  # a new step means the previous one is done
            self.step, self.bar = step, tqdm(total=100, desc=step, unit="%", leave=True)
        self.bar.update(max(0, int(percent) - self.bar.n))

    def close(self, finished: bool) -> None:
        if self.bar is not None:
            if finished:
                self.bar.update(100 - self.bar.n)
            self.bar.close()
            self.step, self.bar = None, None


def run_with_progress(load: Callable[[Callable], dict | None]) -> None:
    """Run `load(progress)` with progress bars; print its result, or a named error."""
    bars = ProgressBars()
    try:
        result = load(bars)
    except MarketrecError as exc:
        bars.close(finished=False)
        raise click.ClickException(f"{exc.message}: {exc.errors}") from exc
    bars.close(finished=True)
    if result:
        click.echo(", ".join(f"{key}: {value}" for key, value in result.items()))


data_cli = AppGroup("data", help="Demo data: MovieLens 100K and synthetic marketplaces.")
DIRECTORY = click.Path(file_okay=False, path_type=Path)


@data_cli.command("fetch-movielens")
@click.argument("directory", type=DIRECTORY, default=DEFAULT_MOVIELENS_DIR)
def fetch_movielens_command(directory):
    """Download MovieLens 100K into DIRECTORY (default var/data/ml-100k) unless it is there."""
    try:
        click.echo(f"MovieLens 100K is in {fetch_movielens(directory)}")
    except MovieLensUnavailable as exc:
        raise click.ClickException(f"{exc.message}: {exc.errors}") from exc


@data_cli.command("import-movielens")
@click.argument("directory", type=DIRECTORY, default=DEFAULT_MOVIELENS_DIR)
def import_movielens_command(directory):
    """Load the MovieLens 100K files in DIRECTORY (default var/data/ml-100k) as the marketplace."""
    run_with_progress(lambda progress: import_movielens(directory, progress=progress))


@data_cli.command("demo")
@click.option("--directory", type=DIRECTORY, default=DEFAULT_MOVIELENS_DIR, show_default=True,
              help="where MovieLens 100K is, or is fetched to")
@click.option("--train/--no-train", default=True, show_default=True,
              help="queue NCF, then RL training on the loaded data (needs a worker on the training queue)")
def demo_command(directory, train):
    """Load demo data unless a snapshot is active: MovieLens, or a seeded marketplace."""
    loaded = {}
    run_with_progress(lambda progress: loaded.update(load_demo(directory, progress=progress, say=click.echo) or {}))
    if loaded and train:
        from app import tasks
        from app.errors import BrokerUnavailable

        # The training queue runs one job at a time, in order: RL starts when NCF is done.
        for engine, command in (("ncf", "flask train ncf"), ("rl", "flask train rl")):
            try:
                job = tasks.start_training(engine, loaded["snapshot_id"])
                click.echo(f"{engine.upper()} training queued: job {job.id}")
            except BrokerUnavailable as exc:
                click.echo(f"{engine.upper()} training not queued ({exc.errors}): run `{command}`")


@click.command("seed")
@click.option("--services", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--users", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--projects", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--journeys", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="random seed: same seed, same data")
@with_appcontext
def seed_command(services, users, projects, journeys, seed):
    """Load a synthetic marketplace of the given size, with realistic user journeys."""
    run_with_progress(lambda progress: seed_marketplace(services, users, projects, journeys, seed, progress))
