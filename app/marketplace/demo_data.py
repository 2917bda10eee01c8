"""Demo data stays a demo: it is dropped once a marketplace's own dump is active.

The demo loaders (`flask data demo`, `flask data import-movielens`, `flask seed`)
store their dump as a snapshot whose `source` is a demo source, and their user
actions and events with `demo: true`. When a snapshot of another source (a
marketplace's own dump, POST /update) becomes active, the demo's actions and
events, the recommendations served while a demo snapshot was active, and the RL
transitions made from them are deleted, and the Redis history copies of every
identity they named are forgotten, so none of it feeds the marketplace's models
or answers. Demo user ids (MovieLens users 1..943) are the marketplace's own ids
too: without the drop, the marketplace's user 5 would inherit the demo's user 5.

Each demo snapshot records when its data was dropped (`demo_dropped_at`), so
later switches cost one small query. A demo snapshot made active again (the same
demo loaded again) clears its mark and is dropped again at the next switch.
"""
from __future__ import annotations

import logging
from datetime import datetime

from app.errors import ServiceUnavailable
from app.marketplace import recent_history
from app.progress import Progress, no_progress
from app.storage.interactions import DURABLE, Event, ServedRecommendation, ShadowRecommendation, UserAction
from app.storage.jobs import utcnow
from app.storage.sars import SarsTransition
from app.storage.served_outcomes import TrafficHour
from app.storage.snapshots import DEMO_SOURCES, DatasetSnapshot, get_snapshot

log = logging.getLogger(__name__)
FORGET_BATCH = 1000  # identities per Redis pipeline
DELETE_BATCH = 2000  # served recommendations per delete
# The index each identity's delete uses (declared on UserAction and Event).
IDENTITY_INDEXES = {"user_id": [("user_id", 1), ("timestamp", 1)], "unique_id": [("unique_id", 1), ("timestamp", 1)]}


def after_switch(snapshot_id: str, progress: Progress = no_progress) -> dict | None:
    """`snapshot_id` is now active: if it is a marketplace's own dump, drop demo data not
    dropped yet and return what was dropped; None when there was nothing to do."""
    snapshot = get_snapshot(snapshot_id)
    if snapshot.source in DEMO_SOURCES:
        DatasetSnapshot.objects(id=snapshot_id, demo_dropped_at__ne=None).update_one(unset__demo_dropped_at=True)
        return None
    pending = DatasetSnapshot.objects(source__in=DEMO_SOURCES, demo_dropped_at=None)
    demo_ids = list(pending.scalar("id"))
    if not demo_ids:
        return None
    activations = [when for when in pending.scalar("activated_at") if when is not None]
    progress("dropping demo data", 96, demo_snapshots=demo_ids)
    served_while_demo = (min(activations), snapshot.activated_at or utcnow()) if activations else None
    dropped = drop_demo_data(served_while_demo, progress=progress)
    DatasetSnapshot.objects(id__in=demo_ids).update(set__demo_dropped_at=utcnow())
    log.info("demo data dropped: a marketplace's own dump is active",
             extra={"snapshot_id": snapshot_id, "demo_snapshots": demo_ids, "dropped": dropped})
    return {"demo_snapshots": demo_ids, **dropped}


def drop_demo_data(served_while_demo: tuple[datetime, datetime] | None = None,
                   progress: Progress = no_progress) -> dict:
    """Delete every stored action and event marked demo, and the recommendations served (and RL
    transitions made from them, shadows computed beside them, the traffic counted from them)
    in `served_while_demo` (from a demo snapshot's activation to the switch away from it);
    forget the history copies of their identities. Idempotent; returns
    the counts deleted and how many identities were forgotten."""
    deleted, users, visitors = {}, set(), set()
    for name, document in (("user_actions", UserAction), ("events", Event)):
        progress("dropping demo data", 96, collection=name)
        deleted[name], named_users, named_visitors = _drop_marked(document)
        users |= named_users
        visitors |= named_visitors
    if served_while_demo is not None:
        progress("dropping demo data", 98, collection="recommendations")
        deleted["recommendations"] = _drop_between(ServedRecommendation, "created_at", *served_while_demo)
        deleted["sars"] = _drop_between(SarsTransition, "recommended_at", *served_while_demo)
        deleted["shadow_recommendations"] = _drop_between(ShadowRecommendation, "created_at", *served_while_demo)
        # The traffic charts' counts of those hours (the hour the switch happened in goes too).
        start, end = served_while_demo
        deleted["traffic_hours"] = _drop_between(TrafficHour, "hour", start.replace(minute=0, second=0, microsecond=0),
                                                 end)
    forgotten = _forget(users, visitors)
    return {"deleted": deleted, "identities_forgotten": forgotten}


def _drop_marked(document) -> tuple[int, set[int], set[str]]:
    """Delete a collection's demo documents one identity at a time: (count, user ids, unique ids).

    Finding the identities is one collection scan (there is no index on `demo`, and
    request-path writes should not pay for one); each delete then equals an indexed
    identity field and filters on `demo`, in identity-sized batches. SecantusDB plans an
    equality on an index prefix plus an unindexed field as a collection scan, so the delete
    names its index (`hint`, MongoDB 4.4+ too): an index scan on both.
    """
    collection = document._get_collection().with_options(write_concern=DURABLE)
    users, visitors, anonymous = set(), set(), set()
    for doc in collection.find({"demo": True}, {"user_id": 1, "unique_id": 1}):
        if doc.get("user_id") is not None:
            users.add(doc["user_id"])
        elif doc.get("unique_id"):
            anonymous.add(doc["unique_id"])
        if doc.get("unique_id"):
            visitors.add(doc["unique_id"])
    deleted = 0
    for field, values in (("user_id", users), ("unique_id", anonymous)):
        for value in sorted(values):
            deleted += collection.delete_many({field: value, "demo": True}, hint=IDENTITY_INDEXES[field]).deleted_count
    return deleted, users, visitors


def _drop_between(document, field: str, start: datetime, end: datetime) -> int:
    """Delete documents whose indexed `field` is in [start, end), oldest first, in batches (a
    range on an indexed field other than `_id` is an index scan on SecantusDB as on MongoDB)."""
    collection = document._get_collection().with_options(write_concern=DURABLE)
    deleted = 0
    while True:
        window = {field: {"$gte": start, "$lt": end}}
        batch = list(collection.find(window, {field: 1}).sort(field, 1).limit(DELETE_BATCH))
        if not batch:
            return deleted
        deleted += collection.delete_many({field: {"$gte": start, "$lte": batch[-1][field]}}).deleted_count


def _forget(users: set[int], visitors: set[str]) -> int:
    """Forget the Redis history copies of these identities; a cache that fails now lets its copies
    expire (HISTORY_CACHE_TTL_SECONDS) rather than failing the switch that already happened."""
    identities = [("user", user) for user in sorted(users)] + [("visitor", v) for v in sorted(visitors)]
    try:
        for start in range(0, len(identities), FORGET_BATCH):
            batch = identities[start:start + FORGET_BATCH]
            recent_history.forget([i for kind, i in batch if kind == "user"],
                                  [i for kind, i in batch if kind == "visitor"])
    except ServiceUnavailable as exc:
        log.warning("history copies of demo identities not forgotten; they expire", extra={"error": exc.errors})
    return len(identities)
