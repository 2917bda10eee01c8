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
from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect

from app.marketplace.journeys import journey_service
from app.storage.interactions import Event, UserAction

log = logging.getLogger(__name__)

# Reads of one identity: equality on the identity, newest first, nothing else in the query.
# Both MongoDB and SecantusDB serve that from the (identity, timestamp) indexes.
NEWEST_FIRST = [("timestamp", DESCENDING)]
READ_MORE = 4  # when too few of the actions read were about a service, read this many times more
ACTION_FIELDS = {"service_id": 1, "order_service_id": 1, "action.order": 1, "source.visit_id": 1, "timestamp": 1,
                 "user_id": 1, "unique_id": 1}
EVENT_FIELDS = {"service_id": 1, "type": 1, "value": 1, "timestamp": 1, "user_id": 1, "unique_id": 1}
# A bulk read reopens its cursor where it stopped after this many lost connections in a row.
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


def all_interactions(since: datetime | None = None) -> Iterator[dict]:
    """Every interaction at or after `since`, oldest first, for trainers.

    Items are dicts: id, origin ("user_action" or "event"), user_id, unique_id,
    service_id, type, value (events only), timestamp. `since` is inclusive:
    a reader resuming from the last timestamp it saw drops the ids it has.
    """
    # Walks the timestamp index in order and keeps the actions about a service here, as
    # `latest_actions` does.
    order_services = OrderServices()
    actions = oldest_first(UserAction._get_collection(), ACTION_FIELDS, since)
    events = oldest_first(Event._get_collection(), EVENT_FIELDS, since)
    from_actions = (item for doc in actions if (item := action_interaction(doc, order_services)))
    return heapq.merge(from_actions, map(event_interaction, events), key=lambda item: item["timestamp"])


def oldest_first(collection: Collection, fields: dict, since: datetime | None = None,
                 batch_size: int = 5000) -> Iterator[dict]:
    """Every document of `collection` at or after `since` in timestamp order, read by one
    cursor on the timestamp index, reopened where it stopped when its connection is lost.

    A million stored actions take minutes to read while a trainer works on them; a busy
    SecantusDB can then miss the driver's heartbeat, and the driver cancels the pool's
    operations (`_OperationCancelled`, an AutoReconnect) though nothing is wrong with the
    data; MongoDB's failovers look the same. The cursor is reopened from the last
    timestamp read, inclusive, skipping the ids already read at that timestamp, so every
    document comes exactly once. Paging instead (`$gte` and a limit) was over a hundred times slower on
    SecantusDB (benchmarks/read_all_interactions.py)."""
    last, seen_at_last, failures = since, set(), 0
    while True:
        query = {"timestamp": {"$gte": last}} if last is not None else {}
        cursor = collection.find(query, fields).sort([("timestamp", ASCENDING)]).batch_size(batch_size)
        try:
            for doc in cursor:
                if doc["timestamp"] == last:
                    if doc["_id"] in seen_at_last:
                        continue
                else:
                    last, seen_at_last = doc["timestamp"], set()
                seen_at_last.add(doc["_id"])
                failures = 0
                yield doc
            return
        except AutoReconnect:
            failures += 1
            if failures > BULK_READ_RESUMES:
                raise
            log.warning("bulk read lost its connection; reopening it where it stopped",
                        extra={"collection": collection.name, "timestamp": str(last), "attempt": failures})
        finally:
            cursor.close()
