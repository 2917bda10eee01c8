"""Generic interaction events (POST /events): views, carts, orders, ratings...
of one service by a user or an anonymous visitor, stored like user actions:
durably, all of a batch or none, idempotent by id."""
from __future__ import annotations

import math
from datetime import datetime, timezone

from app.errors import InvalidInput
from app.marketplace import recent_history
from app.marketplace.user_actions import interaction_id, parse_timestamp
from app.storage.interactions import DurableInserts, Event

EVENT_WRITES = DurableInserts(Event)
# Types whose meaning is the value: an event without one says nothing.
VALUED_TYPES = ("rating",)


def _rule_errors(event: dict) -> dict[str, str]:
    """Rules the schema cannot express, keyed by field."""
    errors = {}
    if event.get("user_id") is None and not event.get("unique_id"):
        errors["user_id"] = "either user_id or unique_id is required"
    value = event.get("value")
    if value is not None and not math.isfinite(value):
        errors["value"] = "must be a finite number"
    if value is None and event["type"] in VALUED_TYPES:
        errors["value"] = f"a {event['type']} event needs a value"
    return errors


def event_document(event: dict, received_at: datetime) -> dict:
    """The stored form of one schema-valid wire event. Raises ValueError for a bad timestamp."""
    doc = {
        "user_id": int(event["user_id"]) if event.get("user_id") is not None else None,
        "unique_id": event["unique_id"].lower() if event.get("unique_id") else None,
        "service_id": int(event["service_id"]),
        "type": event["type"],
        "value": float(event["value"]) if event.get("value") is not None else None,
        "timestamp": parse_timestamp(event["timestamp"]),
        "params": event.get("params") or None,
    }
    doc = {key: value for key, value in doc.items() if value is not None}
    doc["_id"] = interaction_id(event.get("id"), doc)
    doc["received_at"] = received_at
    return doc


def store_events(events: list[dict], *, demo: bool = False) -> int:
    """Store schema-valid wire events durably, all or none; returns how many were new.

    Error paths name the item as the request does: `events.3.value`. `demo=True`
    (demo loaders only) marks them demo data (app/marketplace/demo_data.py).
    """
    received_at = datetime.now(timezone.utc)
    docs, errors = [], {}
    for index, event in enumerate(events):
        path = f"events.{index}."
        errors.update({path + field: reason for field, reason in _rule_errors(event).items()})
        try:
            docs.append(event_document(event, received_at))
        except ValueError as exc:
            errors[path + "timestamp"] = str(exc)
    if errors:
        raise InvalidInput("Input payload validation failed", errors)
    if demo:
        for doc in docs:
            doc["demo"] = True
    stored = EVENT_WRITES.insert(docs)
    recent_history.note_written(recent_history.event_items(docs))
    return stored
