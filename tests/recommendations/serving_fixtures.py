"""A served marketplace for the serving tests: a dump ingested into the active
snapshot, category-coherent browsing by earlier visitors, fitted interaction models."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

from app.marketplace import dumps, ingestion
from app.marketplace.events import store_events
from app.pipelines.interaction_models import fit_interaction_models
from tests.fixtures.dumps import make_dump
from tests.fixtures.journeys import wire_time

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def recommendable_by_category(dump: dict) -> dict[int, list[int]]:
    """Recommendable services grouped by their first category."""
    by_category: dict[int, list[int]] = {}
    for service in dump["services"]:
        if service["status"] in ("published", "unverified") and service["categories"]:
            by_category.setdefault(service["categories"][0], []).append(service["id"])
    return by_category


def browsing_events(dump: dict, visitors: int = 120, seed: int = 1) -> list[dict]:
    """Visitors who each browse services of one category, a few minutes apart."""
    rng = random.Random(seed)
    groups = [ids for ids in recommendable_by_category(dump).values() if len(ids) >= 4]
    events = []
    for visitor in range(visitors):
        unique_id = str(uuid.UUID(int=rng.getrandbits(128)))
        pool = groups[visitor % len(groups)]
        start = NOW - timedelta(days=rng.randint(1, 20))
        for step, service_id in enumerate(rng.sample(pool, min(len(pool), 4))):
            kind = "order" if step == 3 and rng.random() < 0.3 else "view"
            events.append({"unique_id": unique_id, "service_id": service_id, "type": kind,
                           "timestamp": wire_time(start + timedelta(minutes=3 * step))})
    return events


def with_focused_users(dump: dict, seed: int = 2) -> dict:
    """Users who, like real ones, take services of the one area they work in."""
    rng = random.Random(seed)
    groups = [ids for ids in recommendable_by_category(dump).values() if len(ids) >= 4]
    for user in dump["users"]:
        pool = groups[user["id"] % len(groups)]
        user["accessed_services"] = rng.sample(pool, min(len(pool), len(user["accessed_services"])))
    return dump


def serve_marketplace(app, n_services: int = 150, n_users: int = 150, seed: int = 0) -> dict:
    """Ingest a dump, store browsing, fit Popularity and Session, rebuild the serving state."""
    dump = with_focused_users(make_dump(n_services=n_services, n_users=n_users, seed=seed))
    with app.app_context():
        snapshot = dumps.store_dump(dump, source="test")
        ingestion.ingest_snapshot(snapshot.id)
        store_events(browsing_events(dump))
        fit_interaction_models()
        app.extensions["serving_state"].rebuild_now()
    return dump
