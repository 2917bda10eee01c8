"""One interaction history per user and per visitor, from user actions and
events together, for engines (a user's latest items) and trainers (everything).

An event is an interaction with its `service_id`, typed by its `type`. A user
action counts when it is about a known service:
- a click whose `source.root` names a service (`resource_id`) is a "click" on it;
- an order (`action.order` true) is an "order" of the service its journey is
  about: its own root's service, else the nearest one on the way back through
  the actions that led to it (app/marketplace/journeys.py).
Other actions (page-to-page navigation) are kept for journeys but are not
interactions: the dump has no page slugs, so `/services/<slug>` pages cannot be
mapped to services.

The latest actions of one identity are read by the (identity, timestamp) indexes
alone and the ones about a service are kept here (`latest_actions`): an `$or`
naming them in the query made SecantusDB scan and sort the whole collection.
"""
from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import NamedTuple

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect

from app.marketplace.journeys import journey_service
from app.storage import pacing, time_buckets
from app.storage.interactions import Event, UserAction

log = logging.getLogger(__name__)

# Reads of one identity: equality on the identity, newest first, nothing else in the query.
# Both MongoDB and SecantusDB serve that from the (identity, timestamp) indexes.
NEWEST_FIRST = [("timestamp", DESCENDING)]
READ_MORE = 4  # when too few of the actions read were about a service, read this many times more
ACTION_FIELDS = {"service_id": 1, "order_service_id": 1, "action.order": 1, "source.visit_id": 1, "timestamp": 1,
                 "user_id": 1, "unique_id": 1}
EVENT_FIELDS = {"service_id": 1, "type": 1, "value": 1, "timestamp": 1, "user_id": 1, "unique_id": 1}
# A bulk read reads a window again after a lost connection, this many times in a row at most.
BULK_READ_RESUMES = 5


class Interaction(NamedTuple):
    service_id: int
    type: str
    timestamp: datetime


class OrderServices:
    """Services of orders without a root, looked up once per visit."""

    def __init__(self):
        self._known: dict[str | None, int | None] = {}

    def __call__(self, visit_id: str | None) -> int | None:
        if visit_id not in self._known:
            self._known[visit_id] = journey_service(visit_id)
        return self._known[visit_id]


def action_interaction(doc: dict, order_services: OrderServices) -> dict | None:
    """The interaction an action is, or None for one about no service (page-to-page navigation,
    an order whose journey names none); only orders may look their journey up."""
    is_order = doc.get("action", {}).get("order", False)
    service_id = doc.get("service_id")
    if service_id is None and is_order:
        service_id = doc.get("order_service_id")  # resolved when it was stored
        if service_id is None:
            service_id = order_services(doc["source"].get("visit_id"))
    if service_id is None:
        return None
    return {"id": doc["_id"], "origin": "user_action", "user_id": doc.get("user_id"),
            "unique_id": doc.get("unique_id"), "service_id": service_id,
            "type": "order" if is_order else "click", "value": None, "timestamp": doc["timestamp"]}


def event_interaction(doc: dict) -> dict:
    return {"id": doc["_id"], "origin": "event", "user_id": doc.get("user_id"),
            "unique_id": doc.get("unique_id"), "service_id": doc["service_id"],
            "type": doc["type"], "value": doc.get("value"), "timestamp": doc["timestamp"]}


def is_about_service(doc: dict) -> bool:
    """Whether a stored action can be an interaction: it names a service, or it is an order."""
    return doc.get("service_id") is not None or bool(doc.get("action", {}).get("order", False))


def latest_actions(who: dict, limit: int, order_services: OrderServices) -> list[dict]:
    """The latest `limit` actions about a service of one user or visitor (`who`), as interaction
    dicts, newest first. Reads the latest `limit` actions, then `READ_MORE` times more while
    those held too few about a service and the identity has more: exact, and on the index."""
    wanted = limit
    while True:
        docs = list(UserAction._get_collection().find(who, ACTION_FIELDS).sort(NEWEST_FIRST).limit(wanted))
        items = [item for doc in docs if (item := action_interaction(doc, order_services))]
        if len(items) >= limit or len(docs) < wanted:
            return items[:limit]
        wanted *= READ_MORE


def _latest(who: dict, limit: int) -> list[dict]:
    """The latest `limit` interaction dicts of one user or visitor (`who`), oldest first."""
    if limit <= 0:
        return []
    from_actions = latest_actions(who, limit, OrderServices())
    events = Event._get_collection().find(who, EVENT_FIELDS).sort(NEWEST_FIRST).limit(limit)
    from_events = map(event_interaction, events)
    newest_first = heapq.merge(from_actions, from_events, key=lambda item: item["timestamp"], reverse=True)
    return [item for _, item in zip(range(limit), newest_first)][::-1]


def _history(items: list[dict]) -> list[Interaction]:
    return [Interaction(item["service_id"], item["type"], item["timestamp"]) for item in items]


def latest_of_user(user_id: int, limit: int = 100) -> list[dict]:
    """The logged-in user's latest `limit` interactions as dicts (with their ids), oldest first."""
    return _latest({"user_id": int(user_id)}, limit)


def latest_of_visitor(unique_id: str, limit: int = 100) -> list[dict]:
    """The latest `limit` interactions of one browser session as dicts (with their ids), oldest first."""
    return _latest({"unique_id": unique_id.lower()}, limit)


def user_history(user_id: int, limit: int = 100) -> list[Interaction]:
    """The logged-in user's latest `limit` interactions, oldest first."""
    return _history(latest_of_user(user_id, limit))


def visitor_history(unique_id: str, limit: int = 100) -> list[Interaction]:
    """The latest `limit` interactions of one browser session (`unique_id`), oldest first."""
    return _history(latest_of_visitor(unique_id, limit))


def all_interactions(since: datetime | None = None, per_window: int | None = None) -> Iterator[dict]:
    """Every interaction at or after `since`, oldest first, for trainers.

    Items are dicts: id, origin ("user_action" or "event"), user_id, unique_id,
    service_id, type, value (events only), timestamp. `since` is inclusive:
    a reader resuming from the last timestamp it saw drops the ids it has. Read in windows of
    about `per_window` documents (pacing.WINDOW_DOCS unless given).
    """
    # Walks the timestamp index in order and keeps the actions about a service here, as
    # `latest_actions` does.
    order_services = OrderServices()
    per_window = per_window or pacing.WINDOW_DOCS
    actions = oldest_first(UserAction._get_collection(), ACTION_FIELDS, since, per_window)
    events = oldest_first(Event._get_collection(), EVENT_FIELDS, since, per_window)
    from_actions = (item for doc in actions if (item := action_interaction(doc, order_services)))
    return heapq.merge(from_actions, map(event_interaction, events), key=lambda item: item["timestamp"])


def stored_since(moment: datetime) -> int:
    """User actions and events timestamped at or after `moment` (every action, not only those
    about a service), counted in short windows and from hourly counts: one count over the
    range would hold SecantusDB for as long as reading every document in it
    (app/storage/time_buckets.py)."""
    return sum(time_buckets.count_since(document._get_collection(), moment) for document in (UserAction, Event))


def oldest_first(collection: Collection, fields: dict, since: datetime | None = None,
                 per_window: int = time_buckets.WINDOW_DOCS) -> Iterator[dict]:
    """Every document of `collection` at or after `since`, in timestamp order, read in
    windows of the timestamp index bounded on both sides, about `per_window` documents each
    (app/storage/time_buckets.py: on SecantusDB one unbounded read of a million actions would
    hold every other client for half a minute). A window whose connection is lost is read
    again, up to BULK_READ_RESUMES times in a row: a busy SecantusDB can miss the driver's
    heartbeat, which then cancels the pool's operations (`_OperationCancelled`, an
    AutoReconnect); MongoDB's failovers look the same. After each window it rests for half
    as long as the window took, so that writes waiting on SecantusDB go first (beside a
    refit's read without rests, replayed writes waited up to 0.29 s). A complete read from the start
    leaves the exact count of every hour it read behind, for the next read's windows."""
    began = datetime.now(timezone.utc)
    counted = Counter()
    walk = time_buckets.WindowWalk(time_buckets.windows(time_buckets.hour_counts(collection, since), since,
                                                        per_window), per_window)
    for start, stop in walk.windows():
        began_window = time.perf_counter()
        docs = _window(collection, fields, {"$gte": start, "$lt": stop})
        walk.read(len(docs))
        pacing.rest_after(time.perf_counter() - began_window)
        counted.update(time_buckets.hour_of(doc["timestamp"]) for doc in docs)
        yield from docs
    if since is None:
        time_buckets.replace_counts(collection, counted, before=began)


def _window(collection: Collection, fields: dict, bounds: dict) -> list[dict]:
    for attempt in range(BULK_READ_RESUMES + 1):
        try:
            return list(collection.find({"timestamp": bounds}, fields).sort([("timestamp", ASCENDING)]))
        except AutoReconnect:
            if attempt == BULK_READ_RESUMES:
                raise
            log.warning("bulk read lost its connection; reading the window again",
                        extra={"collection": collection.name, "from": str(bounds["$gte"]), "attempt": attempt + 1})
    raise AssertionError("unreachable")
